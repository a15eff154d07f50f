using Granary.Transactions;

namespace Granary.Client.Scenarios.Transactions;

/// <summary>
/// Where two-phase commit blocks and three-phase commit does not, and where 3PC goes wrong under a
/// network partition. Runs the protocol state machines (the same code the unit tests drive) with a
/// simulated clock and hand-delivered messages, so every interleaving is exact.
/// </summary>
public sealed class ThreePhaseCommitScenario : IScenario
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <inheritdoc/>
    public string Name => "3pc";

    /// <inheritdoc/>
    public string Title => "2PC blocks when the coordinator dies after the votes; 3PC does not, but splits under a partition";

    /// <inheritdoc/>
    public Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

        // 1. 2PC: both vote yes, the coordinator dies before telling anyone (and before writing).
        var a = new ParticipantLedger();
        var b = new ParticipantLedger();
        var coordinator = new TwoPhaseCommitCoordinator("t1", "fp", ["a", "b"]);
        coordinator.BeginPrepare(now, Timeout);
        a.RecordPrepared("t1", "fp", now);
        b.RecordPrepared("t1", "fp", now);
        coordinator.OnVote("a", Vote.Yes, null, now);
        coordinator.OnVote("b", Vote.Yes, null, now); // decided commit in memory... then the process dies before the write
        var later = now + TimeSpan.FromMinutes(10);
        var asking = a.DueForInquiry(later, Timeout, Timeout).Count + b.DueForInquiry(later, Timeout, Timeout).Count;
        context.Say("2PC, coordinator dies after both voted yes, before its decision is durable:");
        context.Say($"  10 minutes later both participants are still prepared and holding their reservations ({asking} inquiries due);");
        context.Say("  they cannot decide alone: the other may have committed. Granary's participants ask the");
        context.Say("  coordinator: while it is down they block; once it is back with no record they abort (presumed abort).");
        var twoPcBlocks = a.Find("t1")!.Status == ParticipantStatus.Prepared && b.Find("t1")!.Status == ParticipantStatus.Prepared;

        // 2. 3PC, same crash: the participants are uncertain, time out and abort, consistently.
        var p1 = new ThreePhaseCommitParticipant("a", Timeout);
        var p2 = new ThreePhaseCommitParticipant("b", Timeout);
        p1.OnCanCommit(true, now);
        p2.OnCanCommit(true, now);
        p1.OnTick(now + Timeout);
        p2.OnTick(now + Timeout);
        context.Say($"3PC, same crash after the votes: a -> {p1.State}, b -> {p2.State} (uncertain participants abort on timeout: nobody can have committed)");
        var threePcAborts = p1.State == ThreePhaseState.Aborted && p2.State == ThreePhaseState.Aborted;

        // 3. 3PC, crash after pre-commit reached both: both commit on timeout.
        var q1 = new ThreePhaseCommitParticipant("a", Timeout);
        var q2 = new ThreePhaseCommitParticipant("b", Timeout);
        var c3 = new ThreePhaseCommitCoordinator(["a", "b"], Timeout);
        c3.Start(now);
        c3.OnVote("a", q1.OnCanCommit(true, now), now);
        c3.OnVote("b", q2.OnCanCommit(true, now), now);
        q1.OnPreCommit(now);
        q2.OnPreCommit(now);
        q1.OnTick(now + Timeout);
        q2.OnTick(now + Timeout);
        context.Say($"3PC, coordinator dies after pre-commit reached both: a -> {q1.State}, b -> {q2.State} (no blocking)");
        var threePcCommits = q1.State == ThreePhaseState.Committed && q2.State == ThreePhaseState.Committed;

        // 4. 3PC under a partition: pre-commit reaches a, b is cut off (alive, not crashed).
        var r1 = new ThreePhaseCommitParticipant("a", Timeout);
        var r2 = new ThreePhaseCommitParticipant("b", Timeout);
        r1.OnCanCommit(true, now);
        r2.OnCanCommit(true, now);
        r1.OnPreCommit(now);
        r1.OnTick(now + Timeout);
        r2.OnTick(now + Timeout);
        var split = r1.State != r2.State;
        context.Say($"3PC under a partition (pre-commit reached a only; b is alive but cut off): a -> {r1.State}, b -> {r2.State}");
        context.Say("  the timeout rules assume a silent node has crashed; under a partition that is false and the outcome splits.");
        context.Say("  Granary therefore runs 2PC with durable decisions and presumed abort for its grains: it may wait, it never splits.");
        context.Fact("twoPhaseBlocks", twoPcBlocks, $"2PC blocked without its coordinator: {twoPcBlocks}");
        context.Fact("threePhaseNonBlocking", threePcAborts && threePcCommits, $"3PC decided without its coordinator (crash-stop): {threePcAborts && threePcCommits}");
        context.Fact("threePhaseSplitsUnderPartition", split, $"3PC split under a partition: {split}");
        return Task.FromResult(twoPcBlocks && threePcAborts && threePcCommits && split);
    }
}
