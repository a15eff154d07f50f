using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Granary.Transactions;

/// <summary>
/// One two-phase commit per grain (key = transaction id): a shell over <see cref="TwoPhaseCommitDriver"/>
/// that owns the transaction's record in the <see cref="TransactionDecisionStore"/>. It answers replays
/// and participants' inquiries from the record (writing a presumed-abort tombstone when a participant
/// asks before any decision exists), runs a transaction sent to it directly, and resumes phase two
/// when it activates on an unfinished decision (recovery after silo loss) or the recovery registry
/// wakes it. Once every participant acknowledged, the record is reduced to its outcome.
/// </summary>
[GrainType("granary.transactions.two-phase-commit-coordinator")]
[KeyIsName("transactionId")]
public sealed class TwoPhaseCommitCoordinatorGrain(
    TransactionDecisionStore decisions,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<TwoPhaseCommitCoordinatorGrain> logger) : Grain, ITwoPhaseCommitCoordinatorGrain
{
    private readonly TransactionOptions _options = options.Value;
    private TransactionDecisionRecord? _record;
    private DateTimeOffset _heldSince = DateTimeOffset.MinValue;
    private TwoPhaseCommitCoordinator? _coordinator;
    private bool _phaseTwoRunning;
    private IGrainTimer? _resumeTimer;
    private bool _registered;
    private bool _compactionPending;

    private string TransactionId => this.GetPrimaryKeyString();

    private bool PresumedAborted => _record is { IsPresumedAbort: true };

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Adopt(await decisions.ReadAsync(TransactionId), activating: true);
        await base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Lazy clean-up: the record is reduced to its outcome when the activation goes away, not on
        // every transaction's path. If this write never happens (the silo dies first), the record
        // still says "decided, not all acknowledged": the next activation resends the decision
        // (participants absorb duplicates) and compacts then.
        // Only while the record cannot have been swept: an ETag-checked write could otherwise land on
        // a new record of the same id (a sweep deleted ours and a later run inserted at the same version).
        if (_compactionPending && _coordinator is { Phase: CoordinatorPhase.Done } done && _record is { } record && Trusted(record) && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            _compactionPending = false;
            try
            {
                _record = await Driver().CompactAsync(done, record);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                TransactionLog.LogWarningCompactFailed(logger, TransactionId, ex.Message);
            }
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<TransactionResult> ExecuteAsync(TxRequest request)
    {
        Guard.Name(TransactionId, "transactionId");
        Participants.ValidateRequest(request);
        await EnsureCurrentAsync();
        if (_record is null)
        {
            // This activation may predate a decision another run recorded since (an executor): a
            // recorded transaction is answered from its record, never prepared again.
            Adopt(await decisions.ReadAsync(TransactionId), activating: false);
        }

        if (_record is null)
        {
            var driver = Driver(request.Steps);
            var votes = await driver.PrepareAllAsync(TransactionId, request.Fingerprint(), [.. request.Steps.Select(s => s.Participant.ToString())]);
            var registry = _options.UseRecoveryRegistry && _options.RegisterEveryDecision
                ? RecoveryRegistry.AddAsync(GrainFactory, TransactionId, _options, time, logger)
                : Task.CompletedTask;
            (TransactionDecisionRecord Record, bool Inserted) recorded;
            try
            {
                recorded = await driver.RecordAsync(votes);
            }
            catch
            {
                // Not durable, so not decided. Prepared participants will ask and, finding no
                // record, abort (presumed abort), unless another run decided meanwhile.
                DeactivateOnIdle();
                throw;
            }

            await registry;
            if (recorded.Inserted)
            {
                _record = recorded.Record;
                _coordinator = votes.Coordinator;
                await FinishPhaseTwoAsync(_options.PhaseTwoBudget);
                if (votes.Rejection is { } rejection && _coordinator.Decision == TransactionDecision.Abort)
                {
                    throw rejection;
                }

                return Result(_coordinator, replayed: false);
            }

            // Another run recorded first: its record is the outcome; release what this run prepared.
            Adopt(recorded.Record, activating: false);
            if (recorded.Record.Snapshot.Decision == TransactionDecision.Abort)
            {
                await driver.ReleaseAsync(votes.Coordinator);
            }
        }

        if (PresumedAborted)
        {
            return new TransactionResult(TransactionId, TxOutcome.Aborted, TransactionErrorCodes.Aborted, "aborted by presumption: a participant asked before any decision existed", 0, Replayed: true);
        }

        var existing = _coordinator!;
        var fingerprint = request.Fingerprint();
        if (!string.Equals(existing.Fingerprint, fingerprint, StringComparison.Ordinal))
        {
            throw new TransactionConflictException(TransactionId, $"already used for '{existing.Fingerprint}'; this request is '{fingerprint}'");
        }

        if (existing.Phase != CoordinatorPhase.Done)
        {
            await FinishPhaseTwoAsync(_options.PhaseTwoBudget);
        }

        return Result(existing, replayed: true);
    }

    /// <inheritdoc/>
    public async Task<TxInquiryAnswer> InquireAsync()
    {
        await EnsureCurrentAsync();
        if (_record is null)
        {
            // Presumed abort, made durable so that nobody (a stale activation of this coordinator,
            // an executor still preparing) can decide commit afterwards: their insert finds the row.
            try
            {
                Adopt(await Driver().PresumeAbortAsync(TransactionId), activating: false);
            }
            catch
            {
                DeactivateOnIdle();
                throw;
            }
        }

        if (_coordinator is null)
        {
            return TxInquiryAnswer.Unknown;
        }

        if (_coordinator.Phase != CoordinatorPhase.Done && !_phaseTwoRunning)
        {
            ScheduleResume(TimeSpan.Zero);
        }

        return _coordinator.Answer() switch
        {
            InquiryAnswer.Committed => TxInquiryAnswer.Committed,
            InquiryAnswer.Aborted => TxInquiryAnswer.Aborted,
            InquiryAnswer.Pending => TxInquiryAnswer.Pending,
            _ => TxInquiryAnswer.Unknown,
        };
    }

    /// <inheritdoc/>
    public async Task<TransactionStatusView> GetStatusAsync()
    {
        await EnsureCurrentAsync();
        return Status();
    }

    /// <inheritdoc/>
    public async Task<TransactionStatusView> ResumeAsync()
    {
        await EnsureCurrentAsync();
        if (_coordinator is { Phase: not CoordinatorPhase.Done })
        {
            await FinishPhaseTwoAsync(_options.CallTimeout);
        }

        return Status();
    }

    /// <summary>
    /// True while <paramref name="record"/> is young enough that the decision sweep cannot have deleted
    /// it: <see cref="TransactionOptions.DecisionTrustedFor"/> after its decision, or after this
    /// activation last rewrote it (<see cref="HoldRecordAsync"/>).
    /// </summary>
    private bool Trusted(TransactionDecisionRecord record)
    {
        var since = record.Snapshot.DecidedAt is { } decided && decided > _heldSince ? decided : _heldSince;
        return time.GetUtcNow() - since < TransactionOptions.DecisionTrustedFor;
    }

    /// <summary>
    /// Before a round of phase two on an older record: rewrites it unchanged (ETag-checked), which
    /// makes it young again for the sweep, so it cannot be deleted (nor the id run anew) while this
    /// round sends its decision. False when the record is no longer this activation's: it was deleted
    /// or replaced, and what is stored now has been taken instead.
    /// </summary>
    private async Task<bool> HoldRecordAsync()
    {
        if (_record is not { } held || Trusted(held))
        {
            return true;
        }

        var now = time.GetUtcNow();
        try
        {
            _record = await decisions.UpdateAsync(held);
            _heldSince = now;
            return true;
        }
        catch (InconsistentStateException)
        {
            Replace(await decisions.ReadAsync(TransactionId));
            return false;
        }
    }

    /// <summary>
    /// Before an answer, a resumed phase two or a compaction that rests on an older record: reads it
    /// again. If the decision sweep deleted it (and maybe a later run of the same id recorded its own),
    /// this activation drops its copy and takes what is stored now, so it never answers an inquiry
    /// or sends a decision of a transaction that is gone.
    /// </summary>
    private async Task EnsureCurrentAsync()
    {
        if (_record is not { } held || _phaseTwoRunning || Trusted(held))
        {
            return;
        }

        var stored = await decisions.ReadAsync(TransactionId);
        if (stored is not null && SameDecision(stored, held))
        {
            return;
        }

        Replace(stored);
    }

    /// <summary>This activation's record was deleted or replaced: drop its copy (and the work planned on it) and take what is stored now.</summary>
    private void Replace(TransactionDecisionRecord? stored)
    {
        _resumeTimer?.Dispose();
        _resumeTimer = null;
        _compactionPending = false;
        Adopt(stored, activating: false);
    }

    private static bool SameDecision(TransactionDecisionRecord a, TransactionDecisionRecord b) =>
        a.Snapshot.DecidedAt == b.Snapshot.DecidedAt
        && a.Snapshot.Decision == b.Snapshot.Decision
        && string.Equals(a.Snapshot.Fingerprint, b.Snapshot.Fingerprint, StringComparison.Ordinal);

    private TwoPhaseCommitDriver Driver(IReadOnlyList<TxStep>? steps = null) =>
        new(new TransactionParticipantChannel(GrainFactory, steps ?? [], logger), decisions, time, _options.TwoPhaseCommit);

    /// <summary>Takes a stored record as this activation's truth; an unfinished decision resumes phase two (recovery).</summary>
    private void Adopt(TransactionDecisionRecord? record, bool activating)
    {
        _record = record;
        _coordinator = record is null ? null : Driver().Recover(record);
        if (_coordinator is { Phase: not CoordinatorPhase.Done } unfinished)
        {
            // The silo that ran this transaction is gone (or the activation was collected, or another
            // run recorded first) with the decision durable and some participants not told.
            _record = record! with { Recoveries = record.Recoveries + (activating ? 1 : 0) };
            TransactionLog.LogInformationRecovering(logger, TransactionId, unfinished.Decision.ToString(), unfinished.Unacknowledged.Count);
            ScheduleResume(TimeSpan.FromMilliseconds(50));
            _registered = true; // it may be in the registry; removing an absent entry is harmless
        }
    }

    private async Task FinishPhaseTwoAsync(TimeSpan budget)
    {
        if (_coordinator is null || _phaseTwoRunning || !await HoldRecordAsync())
        {
            return;
        }

        var coordinator = _coordinator;
        _phaseTwoRunning = true;
        try
        {
            if (await Driver().SendDecisionAsync(coordinator, budget) is { } retryIn)
            {
                // Leave the rest to a timer; the decision is durable so the outcome is known.
                // Stragglers go to the recovery registry, which outlives this silo.
                ScheduleResume(retryIn);
                if (_options.UseRecoveryRegistry && !_registered)
                {
                    _registered = true;
                    await RecoveryRegistry.AddAsync(GrainFactory, TransactionId, _options, time, logger);
                }

                return;
            }

            _resumeTimer?.Dispose();
            _resumeTimer = null;

            // Everyone knows: reduce the record to its outcome (kept so a replay of the same id
            // answers the same and a reuse with other content is refused), lazily on deactivation.
            _compactionPending = true;
            if (_options.UseRecoveryRegistry && (_registered || _options.RegisterEveryDecision))
            {
                RecoveryRegistry.Remove(GrainFactory, TransactionId);
            }
        }
        finally
        {
            _phaseTwoRunning = false;
        }
    }

    private void ScheduleResume(TimeSpan due)
    {
        _resumeTimer?.Dispose();
        _resumeTimer = this.RegisterGrainTimer(
            async _ => await FinishPhaseTwoAsync(_options.CallTimeout + _options.RetryMax),
            new GrainTimerCreationOptions(due, _options.RetryMax) { KeepAlive = true });
    }

    private TransactionResult Result(TwoPhaseCommitCoordinator c, bool replayed) => c.Decision == TransactionDecision.Commit
        ? new TransactionResult(TransactionId, TxOutcome.Committed, null, null, c.Unacknowledged.Count, replayed)
        : new TransactionResult(TransactionId, TxOutcome.Aborted, _record?.AbortCode ?? TransactionErrorCodes.Aborted, c.AbortReason, c.Unacknowledged.Count, replayed);

    private TransactionStatusView Status()
    {
        if (_coordinator is { } c)
        {
            return new TransactionStatusView(TransactionId, c.Phase.ToString(), c.Decision.ToString(), c.Participants, c.Unacknowledged, c.AbortReason, c.DecidedAt, _record?.Recoveries ?? 0);
        }

        return PresumedAborted
            ? new TransactionStatusView(TransactionId, nameof(CoordinatorPhase.Done), "Abort (presumed)", [], [], "a participant asked before any decision existed", _record!.Snapshot.DecidedAt, 0)
            : new TransactionStatusView(TransactionId, "Unknown", "None", [], [], null, null, 0);
    }
}
