namespace Granary.Durability;

/// <summary>What a failed write does to callers other than those its batch carried.</summary>
public enum GroupCommitFailureMode
{
    /// <summary>
    /// A failure fails only the callers its batch carried. The next write is attempted as usual (a
    /// whole-state writer stores everything again), and <see cref="GroupCommit{TItem}.DurableAsync"/>
    /// starts a write when the last one failed.
    /// </summary>
    FailBatch,

    /// <summary>
    /// Memory is ahead of storage after a failure: the failure also fails every caller queued for a
    /// later write and every later call, and nothing more is written. The owner must reload.
    /// </summary>
    Sticky,
}

/// <summary>Settings of a <see cref="GroupCommit{TItem}"/>, checked when it is created.</summary>
public sealed class GroupCommitOptions
{
    /// <summary>Writes (calls of the write delegate) at a time. Default 1: whole-state writers need one.</summary>
    public int MaxInFlight { get; init; } = 1;

    /// <summary>Items one write carries at most; later items go into the next batch. Default unbounded.</summary>
    public int MaxBatch { get; init; } = int.MaxValue;

    /// <summary>What a failed write does beyond its own batch. Default <see cref="GroupCommitFailureMode.FailBatch"/>.</summary>
    public GroupCommitFailureMode FailureMode { get; init; } = GroupCommitFailureMode.FailBatch;

    /// <summary>
    /// False (default): writes start and continue in the caller's context, so a grain's write
    /// delegate runs on the grain's scheduler, one turn at a time with its calls. True: writes run on
    /// the thread pool, for a writer shared by many callers (a storage shard).
    /// </summary>
    public bool RunOnThreadPool { get; init; }

    /// <summary>Clock of <see cref="GroupCommit{TItem}.CloseAsync"/>'s drain deadline. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The default settings: one write at a time, unbounded batches, a failure fails its batch only.</summary>
    public static GroupCommitOptions Default { get; } = new();

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInFlight, 1, nameof(MaxInFlight));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatch, 1, nameof(MaxBatch));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
    }
}

/// <summary>
/// Group commit: callers join a batch, one call of the write delegate makes the whole batch durable,
/// and every caller is completed with its own batch's outcome. While the writes allowed at a time
/// (<see cref="GroupCommitOptions.MaxInFlight"/>) are in flight, callers gather in the next batch,
/// so N concurrent callers cost about two writes, not N. Thread-safe; the one batching loop of the
/// code base, used by grains that write their state whole and by shard writers that send many
/// callers' items in one transaction.
/// </summary>
/// <remarks>
/// <para>
/// Two ways to use it. Item writers call <see cref="CommitAsync(TItem)"/>: the delegate receives the
/// batch's items (at most <see cref="GroupCommitOptions.MaxBatch"/>) and may complete per-item
/// results of its own. Whole-state writers change memory, then call <see cref="CommitAsync()"/>
/// (or <see cref="Changed"/> now and <see cref="DurableAsync"/> later): the delegate must take its
/// snapshot of the state before its first await, so a change made while a write is in flight goes
/// into the next write, never into one that may have snapshotted before it.
/// </para>
/// <para>
/// Whatever the delegate throws, synchronously or not, fails its batch's callers (and, in
/// <see cref="GroupCommitFailureMode.Sticky"/> mode, everyone after them); the loop never fails and
/// no caller waits on a loop that ended. A failed batch's task is marked observed, so a caller that
/// dropped it raises no unobserved-task exception.
/// </para>
/// <code>
/// var commit = new GroupCommit&lt;Row&gt;(rows =&gt; store.WriteAsync(rows), new GroupCommitOptions { MaxInFlight = 2, MaxBatch = 64, RunOnThreadPool = true });
/// await commit.CommitAsync(row); // durable once this completes
/// </code>
/// </remarks>
/// <typeparam name="TItem">What a caller hands to the write (nothing, for whole-state writers: see <see cref="GroupCommit"/>).</typeparam>
public sealed class GroupCommit<TItem>
{
    private static readonly IReadOnlyList<TItem> NoItems = [];

    private readonly Func<IReadOnlyList<TItem>, Task> _write;
    private readonly GroupCommitOptions _options;
    private readonly Lock _lock = new();
    private readonly Queue<Batch> _queued = new();
    private Batch? _latest;
    private Batch? _tail;
    private int _inFlight;
    private long _changes;
    private long _durable;
    private long _writes;
    private Exception? _failure;
    private bool _closed;
    private TaskCompletionSource? _idle;

    /// <summary>Creates the group commit over <paramref name="write"/>, which makes one batch durable.</summary>
    /// <param name="write">Writes a batch (its items, empty for whole-state writers); completes when durable.</param>
    /// <param name="options">Settings; <see cref="GroupCommitOptions.Default"/> when null.</param>
    public GroupCommit(Func<IReadOnlyList<TItem>, Task> write, GroupCommitOptions? options = null)
    {
        _write = write ?? throw new ArgumentNullException(nameof(write));
        _options = options ?? GroupCommitOptions.Default;
        _options.Validate();
    }

    /// <summary>Writes started so far.</summary>
    public long Writes
    {
        get
        {
            lock (_lock)
            {
                return _writes;
            }
        }
    }

    /// <summary>Changes recorded so far (commits and <see cref="Changed"/> calls).</summary>
    public long Changes
    {
        get
        {
            lock (_lock)
            {
                return _changes;
            }
        }
    }

    /// <summary>True while a write is in flight or a batch waits for one.</summary>
    public bool Writing
    {
        get
        {
            lock (_lock)
            {
                return _inFlight > 0;
            }
        }
    }

    /// <summary>True when every change recorded so far is durable.</summary>
    public bool IsDurable
    {
        get
        {
            lock (_lock)
            {
                return _durable >= _changes;
            }
        }
    }

    /// <summary>In <see cref="GroupCommitFailureMode.Sticky"/> mode, the write failure that stopped it; otherwise null.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_lock)
            {
                return _failure;
            }
        }
    }

    /// <summary>Hands <paramref name="item"/> to the next write; completes when that write is durable, fails if it failed.</summary>
    public Task CommitAsync(TItem item) => Join(item, hasItem: true);

    /// <summary>Records a change made in memory; completes when a write that started after this call is durable.</summary>
    public Task CommitAsync() => Join(default, hasItem: false);

    /// <summary>Records a change made in memory without waiting for it (a later <see cref="DurableAsync"/> or commit covers it).</summary>
    public void Changed()
    {
        lock (_lock)
        {
            _changes++;
        }
    }

    /// <summary>
    /// Completes when every change recorded so far is durable: at once when it is, otherwise with the
    /// next write (started now if none is in flight, as after a failed one). In
    /// <see cref="GroupCommitFailureMode.Sticky"/> mode a write in flight that holds every change is
    /// joined instead, since the next write could only succeed after it. (In
    /// <see cref="GroupCommitFailureMode.FailBatch"/> mode the next write is a new attempt: a caller
    /// that joins it is answered by that attempt even if the write in flight fails.) For answers that
    /// rest on an earlier change, such as an idempotent repeat, which must not be given while that
    /// change's write is in flight or after it failed.
    /// </summary>
    public Task DurableAsync()
    {
        Batch batch;
        bool start;
        lock (_lock)
        {
            if (Refused() is { } refused)
            {
                return refused;
            }

            if (_durable >= _changes)
            {
                return Task.CompletedTask;
            }

            if (_queued.Count > 0)
            {
                batch = _tail!;
                batch.UpTo = _changes;
                return batch.Done.Task;
            }

            if (_options.FailureMode == GroupCommitFailureMode.Sticky && _latest is { Finished: false } latest && latest.UpTo >= _changes)
            {
                return latest.Done.Task;
            }

            batch = Enqueue();
            start = ReserveWriter();
        }

        Start(start);
        return batch.Done.Task;
    }

    /// <summary>
    /// Stops taking commits (later ones fail with <see cref="ObjectDisposedException"/>), lets the batches
    /// already queued be written for up to <paramref name="drain"/>, then fails those still queued.
    /// A write already in flight completes on its own.
    /// </summary>
    public async Task CloseAsync(TimeSpan drain)
    {
        Task idle;
        lock (_lock)
        {
            _closed = true;
            if (_inFlight == 0)
            {
                return;
            }

            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            idle = _idle.Task;
        }

        try
        {
            await idle.WaitAsync(drain, _options.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Shutting down: what is still queued fails below.
        }

        Batch[] left;
        lock (_lock)
        {
            left = [.. _queued];
            _queued.Clear();
        }

        var closed = new ObjectDisposedException(nameof(GroupCommit<TItem>));
        foreach (var batch in left)
        {
            Fail(batch, closed);
        }
    }

    private Task Join(TItem? item, bool hasItem)
    {
        Batch batch;
        bool start;
        lock (_lock)
        {
            if (Refused() is { } refused)
            {
                return refused;
            }

            _changes++;
            batch = _queued.Count > 0 && (!hasItem || _tail!.Count < _options.MaxBatch) ? _tail! : Enqueue();
            if (hasItem)
            {
                batch.Add(item!);
            }

            batch.UpTo = _changes;
            start = ReserveWriter();
        }

        Start(start);
        return batch.Done.Task;
    }

    private Task? Refused()
    {
        if (_failure is { } failure)
        {
            return Observed(Task.FromException(failure));
        }

        return _closed ? Observed(Task.FromException(new ObjectDisposedException(nameof(GroupCommit<TItem>)))) : null;
    }

    private Batch Enqueue()
    {
        var batch = new Batch();
        _queued.Enqueue(batch);
        _tail = batch;
        return batch;
    }

    /// <summary>Takes a writer slot when one is free (under the lock): the caller then starts a pump.</summary>
    private bool ReserveWriter()
    {
        if (_inFlight >= _options.MaxInFlight)
        {
            return false;
        }

        _inFlight++;
        return true;
    }

    private void Start(bool start)
    {
        if (!start)
        {
            return;
        }

        if (_options.RunOnThreadPool)
        {
            _ = Task.Run(PumpAsync);
        }
        else
        {
            _ = PumpAsync();
        }
    }

    /// <summary>Writes queued batches, one at a time, until none is left; runs in one writer slot.</summary>
    private async Task PumpAsync()
    {
        var continueOnContext = !_options.RunOnThreadPool;
        while (true)
        {
            Batch? batch = null;
            TaskCompletionSource? idle = null;
            lock (_lock)
            {
                if (_queued.Count == 0 || _failure is not null)
                {
                    _inFlight--;
                    if (_inFlight == 0)
                    {
                        idle = _idle;
                    }
                }
                else
                {
                    batch = _queued.Dequeue();
                    if (_queued.Count == 0)
                    {
                        // A whole-state write snapshots every change made so far.
                        batch.UpTo = _changes;
                    }

                    _latest = batch;
                    _writes++;
                }
            }

            if (batch is null)
            {
                idle?.TrySetResult();
                return;
            }

            Exception? error = null;
            try
            {
                await (_write(batch.Items) ?? throw new InvalidOperationException("The group commit's write delegate returned no task.")).ConfigureAwait(continueOnContext);
            }
            catch (Exception ex)
            {
                error = ex;
            }

            Batch[] alsoFailed = [];
            lock (_lock)
            {
                batch.Finished = true;
                if (error is null)
                {
                    _durable = Math.Max(_durable, batch.UpTo);
                }
                else if (_options.FailureMode == GroupCommitFailureMode.Sticky)
                {
                    _failure ??= error;
                    alsoFailed = [.. _queued];
                    _queued.Clear();
                }
            }

            if (error is null)
            {
                batch.Done.TrySetResult();
            }
            else
            {
                Fail(batch, error);
                foreach (var queued in alsoFailed)
                {
                    Fail(queued, error);
                }
            }
        }
    }

    private static void Fail(Batch batch, Exception error)
    {
        batch.Done.TrySetException(error);
        Observed(batch.Done.Task);
    }

    private static Task Observed(Task faulted)
    {
        // Reading the exception marks it observed: a caller that dropped the task raises nothing later.
        _ = faulted.Exception;
        return faulted;
    }

    private sealed class Batch
    {
        private List<TItem>? _items;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The number of changes recorded when this batch was last joined, or taken for writing if it was the newest.</summary>
        public long UpTo { get; set; }

        /// <summary>True once its write has ended (set under the lock, before <see cref="Done"/> completes).</summary>
        public bool Finished { get; set; }

        public int Count => _items?.Count ?? 0;

        public IReadOnlyList<TItem> Items => _items ?? NoItems;

        public void Add(TItem item) => (_items ??= []).Add(item);
    }
}

/// <summary>
/// Group commit for an owner of state that is written whole (a grain): callers change the state in
/// memory, then await <see cref="CommitAsync"/>; one write stores the state as it is at that moment
/// for every caller waiting. See <see cref="GroupCommit{TItem}"/> for the guarantees.
/// </summary>
/// <remarks>
/// The write delegate must take its snapshot of the state before its first await.
/// <code>
/// _commit = new GroupCommit(() =&gt; state.WriteStateAsync(), GroupCommitFailureMode.Sticky);
/// state.State.Items.Add(item);
/// await _commit.CommitAsync(); // answered only once a write holding the change is durable
/// </code>
/// </remarks>
/// <param name="write">Writes the current state (snapshot taken synchronously, then awaited until durable).</param>
/// <param name="failureMode">What a failed write does beyond the callers it carried.</param>
public sealed class GroupCommit(Func<Task> write, GroupCommitFailureMode failureMode = GroupCommitFailureMode.FailBatch)
{
    private readonly GroupCommit<ValueTuple> _core = new(
        write is null ? throw new ArgumentNullException(nameof(write)) : _ => write(),
        new GroupCommitOptions { FailureMode = failureMode });

    /// <inheritdoc cref="GroupCommit{TItem}.Writes"/>
    public long Writes => _core.Writes;

    /// <inheritdoc cref="GroupCommit{TItem}.Changes"/>
    public long Changes => _core.Changes;

    /// <inheritdoc cref="GroupCommit{TItem}.Writing"/>
    public bool Writing => _core.Writing;

    /// <inheritdoc cref="GroupCommit{TItem}.IsDurable"/>
    public bool IsDurable => _core.IsDurable;

    /// <inheritdoc cref="GroupCommit{TItem}.Failure"/>
    public Exception? Failure => _core.Failure;

    /// <inheritdoc cref="GroupCommit{TItem}.CommitAsync()"/>
    public Task CommitAsync() => _core.CommitAsync();

    /// <inheritdoc cref="GroupCommit{TItem}.Changed"/>
    public void Changed() => _core.Changed();

    /// <inheritdoc cref="GroupCommit{TItem}.DurableAsync"/>
    public Task DurableAsync() => _core.DurableAsync();
}
