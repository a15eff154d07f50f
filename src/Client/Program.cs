using System.CommandLine;
using Granary.Client.Cli;
using Granary.Client.Commands;

var root = new RootCommand("granary: drive a Granary cluster (locks, caches, queues, transactions, tasks)")
{
    GlobalOptions.Json,
    GlobalOptions.Embedded,
};
root.Subcommands.Add(ClusterCommands.Create());
root.Subcommands.Add(StatsCommands.Create());
root.Subcommands.Add(RingCommands.Create());
root.Subcommands.Add(ShardsCommands.Create());
root.Subcommands.Add(LockCommands.Create());
root.Subcommands.Add(QueueCommands.Create());
root.Subcommands.Add(ExchangeCommands.Create());
root.Subcommands.Add(TxCommands.Create());
root.Subcommands.Add(ScenarioCommands.CreateDemo());
root.Subcommands.Add(ScenarioCommands.CreateScenario());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(CacheCommands.Create());
root.Subcommands.Add(TaskCommands.CreateTask());
root.Subcommands.Add(TaskCommands.CreateWorker());

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One clear line, exit 2: the usual contract for a bad command line.
    var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
    await Console.Error.WriteLineAsync($"granary: {error.Message} (see 'granary --help')");
    return ExitCodes.Usage;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await parse.InvokeAsync(cancellationToken: cancel.Token);
