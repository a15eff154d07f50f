using System.CommandLine;
using Granary.Bench.Transactions;
using Granary.Cli.Cli;

namespace Granary.Bench.Commands;

/// <summary><c>granary bench tx</c>: transfers between accounts, Granary 2PC beside Orleans.Transactions.</summary>
public static class TxBenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var accounts = new Option<int>("--accounts") { Description = "Accounts transfers pick from", DefaultValueFactory = _ => 1_000 };
        var cmd = new Command("tx", "Transfers between accounts: Granary two-phase commit, beside Orleans.Transactions with --peer orleans-transactions") { accounts };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            var settings = BenchCommands.Common.Settings(parse, output);
            var peerName = (parse.GetValue(BenchCommands.Common.Peer) ?? "none").ToLowerInvariant();
            if (peerName is not ("none" or "orleans-transactions"))
            {
                throw new UsageException($"--peer for 'bench tx' must be none or orleans-transactions (got '{peerName}')");
            }

            var workload = new TransferWorkload(GlobalOptions.Require(parse.GetValue(accounts), "--accounts", 2, 1_000_000), 1_000_000_000);
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            settings = await BenchCommands.Common.WithCpuAsync(settings, parse, connection, ct);
            var storage = connection.Embedded ? "memory (embedded)" : connection.Configuration["Granary:Storage:Mode"] ?? "Memory";
            await using var granary = new GranaryTransferBenchTarget(connection.Grains, workload, storage);
            await using var peer = peerName == "none" ? null : new OrleansTransactionsBenchTarget(connection.Grains, workload, storage);
            return await BenchCommands.CompareAsync("tx-transfer", granary, peer, settings, output, ct);
        });
        return cmd;
    }
}
