using System.CommandLine;
using Granary.Bench.Transactions.Peer;
using Granary.Server;

namespace Granary.Bench.Commands;

/// <summary>
/// <c>granary-bench silo [--Section:Key=value ...]</c>: a Granary silo (the same configuration and
/// start-up as <c>src/Silo</c>) that also hosts the peers that must run inside silos (the
/// Orleans.Transactions account and transfer grains). <c>GRANARY_SILO=bench scripts/cluster.sh up</c>
/// starts its silos this way.
/// </summary>
public static class BenchSiloCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var silo = new Command("silo", "Run a Granary silo that also hosts the in-silo peers (Orleans.Transactions); configuration as for src/Silo, --Section:Key=value arguments included")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        silo.SetAction((parse, _) => GranarySiloHost.RunAsync([.. parse.UnmatchedTokens], "granary-bench silo", OrleansTransactionsPeerSilo.AddTo));
        return silo;
    }
}
