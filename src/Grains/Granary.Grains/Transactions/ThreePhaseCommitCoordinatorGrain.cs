using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Transactions;

/// <summary>
/// Three-phase commit over the same participant grains as 2PC (key = transaction id):
/// can-commit (each participant reserves durably and starts its timeout), pre-commit (only after
/// every yes; durable at each participant), do-commit. Each phase waits at most a third of the
/// participants' timeout, so a live coordinator always reaches them before they decide alone.
/// Nothing is written before the end: a coordinator that dies leaves the participants to terminate
/// among themselves (<see cref="ThreePhaseTermination"/>). A retry of the same id after such a crash
/// finds the participants' states in their votes and finishes from them: commit if any is
/// pre-committed or committed, else abort.
/// </summary>
[GrainType("granary.transactions.three-phase-commit-coordinator")]
[KeyIsName("transactionId")]
public sealed class ThreePhaseCommitCoordinatorGrain(
    [PersistentState("tx-coordinator-3pc", GranaryStorage.Default)] IPersistentState<ThreePhaseCoordinatorState> state,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<ThreePhaseCommitCoordinatorGrain> logger) : Grain, IThreePhaseCommitCoordinatorGrain
{
    private readonly TransactionOptions _options = options.Value;
    private string _phase = "Unknown";
    private List<ParticipantRef> _participants = [];
    private string? _fingerprint;

    private string TransactionId => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public async Task<TransactionResult> ExecuteAsync(TxRequest request, ThreePhaseRun run)
    {
        Guard.Name(TransactionId, "transactionId");
        Participants.ValidateRequest(request);
        run ??= new ThreePhaseRun();

        var timeout = run.Timeout ?? _options.ThreePhaseTimeout;
        if (timeout < Limits.Transactions.MinThreePhaseTimeout || timeout > Limits.Transactions.MaxThreePhaseTimeout)
        {
            throw new InvalidRequestException("timeout", $"must be between {Limits.Transactions.MinThreePhaseTimeout} and {Limits.Transactions.MaxThreePhaseTimeout}");
        }

        var fingerprint = "3pc " + request.Fingerprint();
        if (state.RecordExists && state.State.Fingerprint is { } recorded)
        {
            if (!string.Equals(recorded, fingerprint, StringComparison.Ordinal))
            {
                throw new TransactionConflictException(TransactionId, $"already used for '{recorded}'; this request is '{fingerprint}'");
            }

            return Result(replayed: true);
        }

        _fingerprint = fingerprint;
        _participants = request.Steps.Select(s => s.Participant).ToList();
        var terms = new ThreePhaseTerms(_participants, timeout);

        // The bounded-delay assumption made concrete: each phase gets a third of the timeout, so a
        // participant's timeout (counted from its own vote or pre-commit) cannot expire while this
        // coordinator is alive and still within its phases.
        var phaseBound = timeout / 3;

        // Phase 1: can-commit.
        _phase = "CanCommit";
        var votes = await Task.WhenAll(request.Steps.Select(s => CanCommitOneAsync(s, terms, phaseBound)));
        var no = votes.FirstOrDefault(v => !v.Vote.Yes);
        var resumed = votes.Any(v => v.Vote.Known is not null);
        if (no.Step is not null)
        {
            await AbortAllAsync(no.Vote.Code ?? TransactionErrorCodes.Aborted, no.Vote.Reason ?? $"{no.Step.Participant} voted no", resumed, timeout);
            if (no.Rejection is { } rejection)
            {
                throw rejection;
            }

            return Result(replayed: false);
        }

        if (resumed && !votes.Any(v => v.Vote.Known is nameof(ParticipantStatus.PreCommitted) or nameof(ParticipantStatus.Committed)))
        {
            // A retry after a coordinator crash with everyone still uncertain: nobody can have
            // committed; abort is the outcome the participants' own termination reaches too.
            await AbortAllAsync(TransactionErrorCodes.Aborted, "the coordinator crashed before pre-commit; the retry aborted it", resumed, timeout);
            return Result(replayed: false);
        }

        CrashIf(run, ThreePhaseCrashPoint.AfterVotes);

        // Phase 2: pre-commit. A participant that refuses has terminated alone with abort (its
        // timeout fired: the bounded-delay assumption failed); the others are told to abort.
        _phase = "PreCommit";
        var preCommits = await Task.WhenAll(_participants.Select(p => SendAsync(p, x => x.PreCommitAsync(TransactionId), phaseBound)));
        if (preCommits.FirstOrDefault(r => r.Refusal is not null) is { Refusal: { } refused })
        {
            TransactionLog.LogWarningThreePhase(logger, TransactionId, "a participant refused pre-commit (it already aborted on its own); aborting: " + refused);
            await AbortAllAsync(TransactionErrorCodes.Aborted, "a participant aborted on its own before pre-commit reached it: " + refused, resumed, timeout);
            return Result(replayed: false);
        }

        CrashIf(run, ThreePhaseCrashPoint.AfterPreCommit);

        // Phase 3: do-commit. Everyone voted yes and every reachable participant is pre-committed; one
        // that did not acknowledge commits by its own timeout.
        _phase = "DoCommit";
        var unacknowledged = await SendUntilAcknowledgedAsync(TransactionDecision.Commit, null, timeout);
        await RecordAsync(TransactionDecision.Commit, null, null, unacknowledged, resumed);
        return Result(replayed: false);
    }

    /// <inheritdoc/>
    public Task<TransactionStatusView> GetStatusAsync()
    {
        if (state.RecordExists && state.State.Fingerprint is not null)
        {
            var s = state.State;
            return Task.FromResult(new TransactionStatusView(
                TransactionId,
                "Done",
                ((TransactionDecision)s.Decision).ToString(),
                s.Participants.Select(p => p.ToString()).ToList(),
                s.Unacknowledged,
                s.AbortReason,
                s.DecidedAt,
                s.Resumed ? 1 : 0));
        }

        return Task.FromResult(new TransactionStatusView(TransactionId, _phase, "None", _participants.Select(p => p.ToString()).ToList(), [], null, null, 0));
    }

    private void CrashIf(ThreePhaseRun run, ThreePhaseCrashPoint point)
    {
        if (run.CrashAfter == point)
        {
            // As if the silo died here: nothing more is sent, and nothing in memory survives.
            _phase = "Unknown";
            _participants = [];
            DeactivateOnIdle();
            throw new GranaryException(ErrorCodes.Internal, $"three-phase commit coordinator of '{TransactionId}' crashed (injected) after {point}");
        }
    }

    private async Task<(TxStep Step, PrepareResponse Vote, InvalidRequestException? Rejection)> CanCommitOneAsync(TxStep step, ThreePhaseTerms terms, TimeSpan bound)
    {
        try
        {
            var vote = await Participants.Transactional(GrainFactory, step.Participant)
                .CanCommitAsync(TransactionId, step.Operation, terms)
                .WaitAsync(bound, time);
            return (step, vote, null);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var code = TransactionParticipantChannel.AbortCodeOf(ex);
            var reason = ex is TimeoutException ? $"{step.Participant}: no vote within {bound.TotalSeconds:0.##} s" : $"{step.Participant}: {ex.Message}";
            return (step, new PrepareResponse(false, code, reason), ex as InvalidRequestException);
        }
    }

    private Task<(bool Acknowledged, string? Refusal)> SendAsync(ParticipantRef participant, Func<ITransactionParticipant, Task> message, TimeSpan bound) =>
        Channel().SendAsync(participant, TransactionId, "3pc message", message, bound, time);

    private TransactionParticipantChannel Channel() => new(GrainFactory, [], logger);

    /// <summary>Sends the outcome (commit or abort) until acknowledged, for at most one participant timeout (the two-phase commit's last step); returns who never acknowledged (they decide alone by then).</summary>
    private async Task<List<string>> SendUntilAcknowledgedAsync(TransactionDecision decision, string? reason, TimeSpan timeout)
    {
        var now = time.GetUtcNow();
        var names = _participants.Select(p => p.ToString()).ToList();
        var outcome = TwoPhaseCommitCoordinator.Recover(new CoordinatorSnapshot(TransactionId, _fingerprint!, names, CoordinatorPhase.Init, decision, [], reason, now), now);
        var sender = new DecisionSender(Channel(), time, _options.TwoPhaseCommit);
        await sender.SendAsync(outcome, timeout < _options.PhaseTwoBudget ? timeout : _options.PhaseTwoBudget);
        return [.. outcome.Unacknowledged];
    }

    private async Task AbortAllAsync(string code, string reason, bool resumed, TimeSpan timeout)
    {
        _phase = "Abort";
        var unacknowledged = await SendUntilAcknowledgedAsync(TransactionDecision.Abort, reason, timeout);
        await RecordAsync(TransactionDecision.Abort, code, reason, unacknowledged, resumed);
    }

    private async Task RecordAsync(TransactionDecision decision, string? code, string? reason, List<string> unacknowledged, bool resumed)
    {
        _phase = "Done";
        state.State.Fingerprint = _fingerprint;
        state.State.Participants = _participants;
        state.State.Decision = (int)decision;
        state.State.AbortCode = code;
        state.State.AbortReason = reason;
        state.State.DecidedAt = time.GetUtcNow();
        state.State.Unacknowledged = unacknowledged;
        state.State.Resumed = resumed;
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The outcome is at the participants; the record only serves replays and status.
            TransactionLog.LogWarningCompactFailed(logger, TransactionId, ex.Message);
        }
    }

    private TransactionResult Result(bool replayed)
    {
        var s = state.State;
        return (TransactionDecision)s.Decision == TransactionDecision.Commit
            ? new TransactionResult(TransactionId, TxOutcome.Committed, null, null, s.Unacknowledged.Count, replayed)
            : new TransactionResult(TransactionId, TxOutcome.Aborted, s.AbortCode ?? TransactionErrorCodes.Aborted, s.AbortReason, s.Unacknowledged.Count, replayed);
    }
}
