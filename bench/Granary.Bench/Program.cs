using System.CommandLine;
using Granary.Bench.Commands;
using Granary.Bench.Transactions.Peer;
using Granary.Cli.Cli;

// The bench tool: `granary bench ...` runs it with the same arguments (see the console's BenchForwarder).
// Its embedded silo also hosts the in-silo peers.
ClusterConnection.ConfigureEmbeddedSilo = OrleansTransactionsPeerSilo.AddTo;
var root = new RootCommand("granary-bench: Granary's closed-loop benchmarks beside peer systems (run as 'granary bench ...')")
{
    GlobalOptions.Json,
    GlobalOptions.Embedded,
    GlobalOptions.TokenFile,
};
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(BenchSiloCommand.Create());

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await ConsoleApp.RunAsync(root, args, cancel.Token);
