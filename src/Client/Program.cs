using System.CommandLine;
using Granary.Cli.Cli;
using Granary.Cli.Commands;

var root = new RootCommand("granary: drive a Granary cluster (locks, caches, queues, transactions, tasks)")
{
    GlobalOptions.Json,
    GlobalOptions.Embedded,
    GlobalOptions.TokenFile,
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
root.Subcommands.Add(BenchForwarder.Create());
root.Subcommands.Add(CacheCommands.Create());
root.Subcommands.Add(TaskCommands.CreateTask());
root.Subcommands.Add(TaskCommands.CreateWorker());

root.Subcommands.Add(ScriptCommand.Create(root));

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await ConsoleApp.RunAsync(root, args, cancel.Token);
