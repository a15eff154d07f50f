using System.Diagnostics;
using System.Globalization;
using Granary.Transactions;

namespace Granary.Cli.Scenarios.Transactions;

/// <summary>
/// Where two-phase commit blocks and three-phase commit does not, and where 3PC goes wrong under a
/// network partition, on the real account and participant grains: the 3PC coordinator grain is
/// crashed on purpose (fault injection) after the votes and after pre-commit, and a participant is cut
/// off by a simulated partition (it refuses every message and cannot reach its peers).
/// </summary>
public sealed class ThreePhaseCommitScenario : IScenario
{
    // Short so the demo stays short; each coordinator phase gets a third of it.
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2.4);

    /// <inheritdoc/>
    public string Name => "3pc";

    /// <inheritdoc/>
    public string Title => "2PC blocks when the coordinator dies after the votes; 3PC does not, but splits under a partition";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var grains = context.Grains;
        var run = Guid.NewGuid().ToString("N")[..6];
        string Key(string name) => $"3pc-{run}-{name}";
        foreach (var name in new[] { "a2", "b2", "a3", "b3", "c3", "d3", "p" })
        {
            await grains.GetGrain<IAccountGrain>(Key(name)).OpenAsync(name.StartsWith('a') || name.StartsWith('c') || name == "p" ? 1_000 : 0);
        }

        var cutOff = grains.GetGrain<IScriptedParticipantGrain>(Key("cut-off"));
        await cutOff.GetAsync();
        context.Say(string.Create(CultureInfo.InvariantCulture, $"accounts opened; 3PC participants wait {Timeout.TotalSeconds:0.#} s in a state before deciding alone"));

        static TxRequest Transfer(string from, string to) =>
            new([new TxStep(ParticipantRef.Account(from), new Debit(100)), new TxStep(ParticipantRef.Account(to), new Credit(100))]);

        // 1. 2PC: both participants vote yes, then the coordinator is gone (here the scenario plays
        //    the coordinator and simply stops after collecting the votes). Only code inside a silo may
        //    (the embedded tour): a client's prepare is refused, and that is what it shows instead.
        var tx2 = Key("tx-2pc");
        var playsCoordinator = context.Connection.Embedded;
        if (playsCoordinator)
        {
            await grains.GetGrain<IAccountGrain>(Key("a2")).PrepareAsync(tx2, new Debit(100));
            await grains.GetGrain<IAccountGrain>(Key("b2")).PrepareAsync(tx2, new Credit(100));
        }
        else
        {
            await BankTransfersScenario.CheckClientCannotPrepareAsync(context, grains.GetGrain<IAccountGrain>(Key("a2")), tx2);
        }

        var clock = Stopwatch.StartNew();

        // 2 and 3. 3PC coordinator grains crashed (injected) after the votes and after pre-commit.
        var txVotes = Key("tx-3pc-votes");
        var txPre = Key("tx-3pc-precommit");
        var crashVotes = await CrashAsync(grains, txVotes, Transfer(Key("a3"), Key("b3")), ThreePhaseCrashPoint.AfterVotes);
        var crashPre = await CrashAsync(grains, txPre, Transfer(Key("c3"), Key("d3")), ThreePhaseCrashPoint.AfterPreCommit);
        ScenarioContext.Require(crashVotes.Crashed, $"the 3PC coordinator of {txVotes} was to crash after the votes but {crashVotes.Text}");
        ScenarioContext.Require(crashPre.Crashed, $"the 3PC coordinator of {txPre} was to crash after pre-commit but {crashPre.Text}");
        context.Say($"3PC coordinator of {txVotes}: {crashVotes.Text}");
        context.Say($"3PC coordinator of {txPre}: {crashPre.Text}");

        // 4. 3PC under a (simulated) partition: the scripted participant is cut off right after its
        //    yes vote. The coordinator pre-commits the account, gets no answer from the cut-off one,
        //    presumes it crashed, and commits.
        var txSplit = Key("tx-3pc-partition");
        await cutOff.PartitionAfterVoteAsync();
        var splitResult = await grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(txSplit).ExecuteAsync(
            new TxRequest([new TxStep(ParticipantRef.Account(Key("p")), new Debit(100)), new TxStep(new ParticipantRef(ParticipantKind.Scripted, Key("cut-off")), new ScriptedStep("partitioned"))]),
            new ThreePhaseRun(Timeout));
        context.Say($"3PC with a participant cut off after its vote (SIMULATED partition: it refuses messages and cannot reach its peers): coordinator says {splitResult.Outcome}");

        // Wait for the 3PC participants to decide alone (bounded).
        var deadline = clock.Elapsed + (3 * Timeout) + TimeSpan.FromSeconds(3);
        string a3 = "?", b3 = "?", c3 = "?", d3 = "?", cut = "?";
        while (clock.Elapsed < deadline)
        {
            a3 = await StatusAsync(grains, Key("a3"), txVotes);
            b3 = await StatusAsync(grains, Key("b3"), txVotes);
            c3 = await StatusAsync(grains, Key("c3"), txPre);
            d3 = await StatusAsync(grains, Key("d3"), txPre);
            var calls = (await cutOff.GetAsync()).Calls;
            cut = calls.Contains("committed " + txSplit) ? "Committed" : calls.Contains("aborted " + txSplit) ? "Aborted" : "Prepared";
            if (new[] { a3, b3, c3, d3, cut }.All(s => s is "Committed" or "Aborted"))
            {
                break;
            }

            await Task.Delay(100, cancellationToken); // poll pause; bounded by the deadline
        }

        var decidedIn = clock.Elapsed;
        var a2 = await grains.GetGrain<IAccountGrain>(Key("a2")).GetAsync();
        var a2Status = await StatusAsync(grains, Key("a2"), tx2);
        var b2Status = await StatusAsync(grains, Key("b2"), tx2);
        var p = await StatusAsync(grains, Key("p"), txSplit);

        var twoPcBlocks = !playsCoordinator || (a2Status == "Prepared" && b2Status == "Prepared" && a2.Held == 100);
        var threePcAborts = a3 == "Aborted" && b3 == "Aborted";
        var threePcCommits = c3 == "Committed" && d3 == "Committed";
        var split = p != cut && (p is "Committed" or "Aborted") && (cut is "Committed" or "Aborted");
        context.Say(string.Create(CultureInfo.InvariantCulture, $"after {decidedIn.TotalSeconds:0.0} s without a coordinator:"));
        if (playsCoordinator)
        {
            context.Check("twoPhaseBlocks", twoPcBlocks, twoPcBlocks,
                $"  2PC {tx2}: a2 {a2Status}, b2 {b2Status}; a2 still holds {a2.Held} (balance {a2.Balance}). A prepared 2PC participant cannot decide alone (the other may have committed): it waits for its coordinator");
        }

        context.Check(threePcAborts, $"  3PC crashed after the votes: a3 {a3}, b3 {b3} (uncertain everywhere: abort, nobody can have committed)");
        context.Check(threePcCommits, $"  3PC crashed after pre-commit: c3 {c3}, d3 {d3} (pre-committed: commit, everyone voted yes)");
        context.Facts["threePhaseNonBlocking"] = threePcAborts && threePcCommits;
        context.Check("threePhaseSplitsUnderPartition", split, split,
            $"  3PC under the partition: account {p}, cut-off participant {cut}: the cut-off one could not reach its pre-committed peer, presumed it crashed (the no-partition assumption) and decided otherwise than the other side. The outcome split.");

        // The 2PC coordinator comes back without a record: presumed abort releases the holds. The
        // scenario sends what it would send rather than wait for the participants' PreparedTimeout.
        await cutOff.HealAsync();
        if (playsCoordinator)
        {
            await grains.GetGrain<IAccountGrain>(Key("a2")).AbortAsync(tx2);
            await grains.GetGrain<IAccountGrain>(Key("b2")).AbortAsync(tx2);
            var a2After = await grains.GetGrain<IAccountGrain>(Key("a2")).GetAsync();
            var a2Final = await StatusAsync(grains, Key("a2"), tx2);
            var b2Final = await StatusAsync(grains, Key("b2"), tx2);
            context.Check(a2After.Held == 0 && a2Final == "Aborted" && b2Final == "Aborted",
                $"2PC: its coordinator returned with no record (presumed abort): a2 {a2Final}, b2 {b2Final}, a2 holds {a2After.Held} (balance {a2After.Balance})");
        }

        return context.AllHeld;
    }

    private static async Task<(bool Crashed, string Text)> CrashAsync(IGrainFactory grains, string id, TxRequest request, ThreePhaseCrashPoint point)
    {
        try
        {
            var result = await grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(id).ExecuteAsync(request, new ThreePhaseRun(Timeout, point));
            return (false, "finished " + result.Outcome + " (the crash was not reached)");
        }
        catch (Errors.GranaryException ex)
        {
            return (true, ex.Message);
        }
    }

    private static async Task<string> StatusAsync(IGrainFactory grains, string account, string transactionId) =>
        (await grains.GetGrain<IAccountGrain>(account).GetTransactionAsync(transactionId))?.Status ?? "unknown";
}
