using Granary.Durability;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>
/// Owns every write of a participant grain's state. Prepare, commit and abort interleave
/// (<c>[AlwaysInterleave]</c> on <see cref="ITransactionParticipant"/>), so concurrent transactions
/// change the state in memory, each atomically, and share one write (group commit): a caller is
/// answered only after a write that started after its change is durable, and an answer that rests
/// on earlier changes waits until those are durable. Each write stores a copy of the state taken
/// before it starts, so calls that interleave with the write never change what is being stored. A
/// failed write fails every caller waiting on it and every later call until the grain has reloaded
/// from storage, so no vote is ever given for a hold that is not durable. Outcomes (commit, abort)
/// may be written late (<see cref="TransactionOptions.OutcomeFlushDelay"/>).
/// </summary>
/// <typeparam name="TState">The grain's state.</typeparam>
public sealed class ParticipantStateWriter<TState>
    where TState : ParticipantState, new()
{
    private readonly IPersistentState<TState> _state;
    private readonly IGrainBase _grain;
    private readonly DeepCopier _copier;
    private readonly TimeProvider _time;
    private readonly TransactionOptions _options;
    private readonly ILogger _logger;
    private readonly Func<string> _describe;
    private readonly GroupCommit _gate;
    private TState _live;
    private Action<DateTimeOffset>? _beforeWrite;
    private IGrainTimer? _flushTimer;
    private bool _outcomeUnsaved;

    /// <summary>Creates the writer of <paramref name="grain"/>'s state.</summary>
    public ParticipantStateWriter(IGrainBase grain, IPersistentState<TState> state, DeepCopier copier, TimeProvider time, TransactionOptions options, ILogger logger, Func<string> describe)
    {
        _grain = grain ?? throw new ArgumentNullException(nameof(grain));
        _state = state ?? throw new ArgumentNullException(nameof(state));
        _copier = copier ?? throw new ArgumentNullException(nameof(copier));
        _time = time;
        _options = options;
        _logger = logger;
        _describe = describe;
        _live = state.State;
        _gate = new GroupCommit(WriteSnapshotAsync, GroupCommitFailureMode.Sticky);
    }

    /// <summary>The working copy of the state (every write stores a fresh copy of it).</summary>
    public TState State => _live;

    /// <summary>Storage writes this activation started (each may hold the changes of several calls).</summary>
    public long Writes => _gate.Writes;

    /// <summary>True when a write failed: memory is ahead of storage until the grain reloads.</summary>
    public bool Broken => _gate.Failure is not null;

    /// <summary>Called on activation, once the stored state is loaded: it becomes the working copy; <paramref name="beforeWrite"/> brings the stored form up to date before each write.</summary>
    public void Load(Action<DateTimeOffset> beforeWrite)
    {
        _live = _state.State;
        _beforeWrite = beforeWrite;
    }

    /// <summary>Completes once a write that holds every change made so far is durable; on failure the grain deactivates and this and every later call fail until it has reloaded.</summary>
    public Task PersistAsync() => _gate.CommitAsync();

    /// <summary>Completes when every change made so far is durable (at once when none is pending).</summary>
    public Task DurableAsync() => _gate.DurableAsync();

    /// <summary>Completes when every change made so far is durable, outcomes still waiting for their flush included (written now).</summary>
    public Task OutcomesDurableAsync() => _outcomeUnsaved ? PersistAsync() : DurableAsync();

    /// <summary>Does what a protocol step asks before its answer.</summary>
    public Task WriteAsync(ParticipantWrite write) => write switch
    {
        ParticipantWrite.Persist => PersistAsync(),
        ParticipantWrite.PersistOutcome => PersistOutcomeAsync(),
        ParticipantWrite.Durable => DurableAsync(),
        _ => Task.CompletedTask,
    };

    /// <summary>Throws when a write failed.</summary>
    public void ThrowIfBroken()
    {
        if (_gate.Failure is { } failure)
        {
            throw new ServiceUnavailableException($"{_describe()}: a state write failed ({failure.GetType().Name}); reloading from storage, retry");
        }
    }

    /// <summary>Writes outcomes still unsaved when the activation goes away (not while the silo shuts down: the prepared records resolve by inquiry on the next activation).</summary>
    public async Task FlushOnDeactivateAsync(DeactivationReason reason)
    {
        if (_outcomeUnsaved && !Broken && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            try
            {
                await PersistAsync();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The prepared records are still stored: the next activation asks the coordinators.
                TransactionLog.LogDebugInquiryFailed(_logger, _describe(), "(outcome flush on deactivation)", ex.Message);
            }
        }
    }

    /// <summary>
    /// Persists a commit or abort. With <see cref="TransactionOptions.OutcomeFlushDelay"/> above zero the
    /// outcome is applied in memory and acknowledged at once, and written with the participant's next
    /// write, at the latest after the delay or on deactivation (group commit). This is safe because the
    /// outcome is already durable elsewhere: the prepared record is on disk, and the decision that
    /// produced this outcome is on disk at its coordinator (2PC keeps its outcome record; 3PC
    /// pre-commit is durable at every participant). A participant that dies before the write reloads
    /// the transaction as prepared and resolves it again by inquiry or termination, exactly as after
    /// a crash between prepare and commit.
    /// </summary>
    private Task PersistOutcomeAsync()
    {
        if (_options.OutcomeFlushDelay <= TimeSpan.Zero)
        {
            return PersistAsync();
        }

        _outcomeUnsaved = true;
        _flushTimer ??= _grain.RegisterGrainTimer(
            FlushOutcomesAsync,
            new GrainTimerCreationOptions(_options.OutcomeFlushDelay, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        return Task.CompletedTask;
    }

    private async Task FlushOutcomesAsync(CancellationToken cancellationToken)
    {
        _flushTimer?.Dispose();
        _flushTimer = null;
        if (_outcomeUnsaved)
        {
            await PersistAsync();
        }
    }

    private async Task WriteSnapshotAsync()
    {
        _beforeWrite?.Invoke(_time.GetUtcNow());
        _outcomeUnsaved = false;

        // Calls interleave while the write is in flight: it stores a copy taken now, so they can
        // neither change what is being stored nor see their change counted as durable too early.
        _state.State = _copier.Copy(_live);
        try
        {
            await _state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // Memory is now ahead of storage: start again from storage on the next activation.
            // Any exception: the gate fails every later call until then, so an activation that
            // did not deactivate here would refuse calls for as long as they keep it alive.
            TransactionLog.LogWarningParticipantWriteFailed(_logger, _describe(), ex.Message);
            _grain.DeactivateOnIdle();
            throw;
        }
    }
}
