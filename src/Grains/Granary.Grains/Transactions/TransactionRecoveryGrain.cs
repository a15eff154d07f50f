using Granary.Durability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Hosting;

namespace Granary.Transactions;

/// <summary>
/// One bucket of the in-doubt registry: transactions whose decision is durable but whose phase two
/// has not finished. Writes are group-committed (callers that arrive during a write share the next
/// one). A timer wakes coordinators of entries older than the scan interval, so a decision taken
/// on a silo that died is delivered even if no participant is active to ask. A bucket that has held
/// an entry keeps a reminder (one per bucket, never one per transaction): the reminder service fires
/// it on a surviving silo after the silo hosting the bucket dies, which re-activates the bucket and
/// its timer; the timer, not the reminder, sets the scan pace.
/// </summary>
[Reentrant]
[GrainType("granary.transactions.transaction-recovery")]
public sealed class TransactionRecoveryGrain(
    [PersistentState("tx-recovery", GranaryStorage.Default)] IPersistentState<RecoveryState> state,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<TransactionRecoveryGrain> logger,
    IOptions<ReminderOptions> reminders) : Grain, ITransactionRecoveryGrain, IRemindable
{
    /// <summary>The reminder that brings a bucket back after silo loss.</summary>
    public const string WakeReminder = "recovery-wake";

    private readonly TransactionOptions _options = options.Value;
    private Task? _wake;
    private GroupCommit? _writes;
    private bool _scanning;

    private GroupCommit Writes => _writes ??= new GroupCommit(WriteStateAsync);

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(ScanAsync, new GrainTimerCreationOptions(_options.RecoveryScanInterval, _options.RecoveryScanInterval) { KeepAlive = true, Interleave = true });
        if (state.State.Entries.Count > 0)
        {
            await EnsureWakeReminderAsync();
        }

        await base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public Task AddAsync(string transactionId)
    {
        state.State.Entries[transactionId] = time.GetUtcNow();

        // Answered once the entry is stored and the bucket is sure to be woken after silo loss.
        var reminder = EnsureWakeReminderAsync();
        return reminder.IsCompletedSuccessfully ? WriteAsync() : Task.WhenAll(WriteAsync(), reminder);
    }

    /// <inheritdoc/>
    public Task ReceiveReminder(string reminderName, TickStatus status) => ScanAsync(CancellationToken.None);

    /// <summary>
    /// Registers the bucket's reminder once per activation (again after a failed attempt). It is
    /// never removed: an idle bucket costs one activation per reminder period, and removing it could
    /// race with an entry being added.
    /// </summary>
    private Task EnsureWakeReminderAsync()
    {
        if (_wake is null || _wake.IsFaulted || _wake.IsCanceled)
        {
            var floor = reminders.Value.MinimumReminderPeriod;
            var period = _options.RecoveryScanInterval > floor ? _options.RecoveryScanInterval : floor;
            _wake = this.RegisterOrUpdateReminder(WakeReminder, period, period);
        }

        return _wake;
    }

    /// <inheritdoc/>
    public Task RemoveAsync(string transactionId) =>
        state.State.Entries.Remove(transactionId) ? WriteAsync() : Task.CompletedTask;

    /// <inheritdoc/>
    public Task<IReadOnlyDictionary<string, DateTimeOffset>> ListAsync() =>
        Task.FromResult<IReadOnlyDictionary<string, DateTimeOffset>>(new Dictionary<string, DateTimeOffset>(state.State.Entries, StringComparer.Ordinal));

    private Task WriteAsync() => Writes.CommitAsync();

    private async Task WriteStateAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A stale ETag means another activation wrote: re-read before the next write.
            try
            {
                await state.ReadStateAsync();
            }
            catch (Exception)
            {
                // The callers get the write's error; the next write fails on the stale ETag and re-reads again.
            }

            throw;
        }
    }

    private async Task ScanAsync(CancellationToken cancellationToken)
    {
        if (_scanning)
        {
            return;
        }

        _scanning = true;
        try
        {
            var cutoff = time.GetUtcNow() - _options.RecoveryScanInterval;
            var due = state.State.Entries.Where(e => e.Value <= cutoff).Select(e => e.Key).Take(64).ToList();
            var finished = new List<string>();
            await Task.WhenAll(due.Select(async transactionId =>
            {
                try
                {
                    var status = await GrainFactory.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId).ResumeAsync().WaitAsync(_options.CallTimeout + _options.CallTimeout, time, cancellationToken);
                    if (status.Phase is nameof(CoordinatorPhase.Done) or "Unknown")
                    {
                        finished.Add(transactionId);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    TransactionLog.LogWarningRecoveryFailed(logger, this.GetPrimaryKeyLong(), transactionId, ex.Message);
                }
            }));
            if (finished.Count > 0)
            {
                foreach (var id in finished)
                {
                    state.State.Entries.Remove(id);
                }

                await WriteAsync();
            }
        }
        finally
        {
            _scanning = false;
        }
    }
}
