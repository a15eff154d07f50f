using System.Globalization;
using Granary.Durability;
using Granary.Errors;
using Granary.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Caching;

/// <summary>
/// Implements <see cref="ICacheShardGrain"/>: one shard's keyspace, kept active while the silo
/// lives, with an active expiry timer. What survives a lost activation depends on the cache's
/// <see cref="CachePersistence"/>:
/// <list type="bullet">
/// <item>Volatile: nothing; the next activation starts empty and refuses clients still routing by an
/// older ring, so it never serves stale data.</item>
/// <item>WriteThrough: commands run in memory, the keys they wrote are marked dirty, and a group commit
/// writes the dirty keys' current rows in a single storage write while further calls
/// keep arriving (the grain is reentrant). A call returns only after the write holding its keys is
/// durable; a read of a key whose write is not yet durable waits for it too. Activation reloads the rows.</item>
/// <item>Snapshot: the same rows, written by a timer every snapshot interval and on deactivation;
/// calls do not wait.</item>
/// </list>
/// A volatile shard also takes direct commands from its own silo's wire endpoints
/// (<see cref="TryExecuteDirect"/>), on their threads, beside its grain calls: every grain path such a
/// shard can take holds <c>_gate</c> while it touches the keyspace or the ring version, and a direct
/// batch holds it from its checks to its last reply, so the two never interleave. A backing-table or
/// near-cache call closes the direct path for the rest of the activation (those paths keep state
/// across awaits and notify subscribers from the grain), as does deactivation.
/// </summary>
[Reentrant]
[CollectionAgeLimit(AlwaysActive = true)]
[SpreadShardsPlacement]
[GrainType("granary.caching.cache-shard")]
public sealed partial class CacheShardGrain(
    IOptions<CacheShardOptions> options,
    ICacheShardStore store,
    ICacheBackingStore backing,
    TimeProvider time,
    CacheMetrics metrics,
    LocalCacheShards localShards,
    ILogger<CacheShardGrain> logger) : Grain, ICacheShardGrain
{
    // Versions handed out by one activation stay below 2^40 above its floor: epoch << 40.
    private const int VersionFloorShift = 40;

    private CacheKeyspace _keyspace = null!;
    private CacheSettings _settings = CacheSettings.Default;
    private string _cache = "";
    private int _shard;
    private CachePersistence _persistence;
    private long _epoch;

    // Raised when this shard hands keys over during a reshard (and set from the definition when the
    // shard activates): clients still routing by an older ring get MOVED and refresh, so a moved key
    // is never read or written here again.
    private long _minimumRingVersion;

    // Keys written since the flush in progress started, and the keys that flush is writing.
    private HashSet<string> _dirty = new(StringComparer.Ordinal);
    private HashSet<string> _writing = new(StringComparer.Ordinal);
    private bool _clearPending;
    private GroupCommit? _flushes;
    private bool _broken;
    private long _storageWrites;
    private long _keysPersisted;
    private long _keysLoaded;

    // Direct commands (TryExecuteDirect) and the grain's turns that touch the keyspace hold this lock.
    private readonly Lock _gate = new();

    // Set under _gate: this activation takes direct commands / no longer does (for the rest of its life).
    private bool _direct;
    private bool _directClosed;

    // One write at a time; a failed write breaks the shard until it reloads (memory is ahead of storage).
    private GroupCommit Flushes => _flushes ??= new GroupCommit(WriteDirtyAsync, GroupCommitFailureMode.Sticky);

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var self = this.GetPrimaryKeyString();
        if (!IndexedKey.TryParse(self, out _cache, out _shard))
        {
            throw new InvalidRequestException("key", $"'{self}' is not <cache>/<shard>");
        }

        var definition = await GrainFactory.GetGrain<ICacheDefinitionGrain>(_cache).PeekAsync();
        var settings = definition?.Settings ?? CacheSettings.Default;
        _settings = settings;
        _persistence = settings.Persistence;
        _minimumRingVersion = definition is null ? 0 : Math.Max(definition.Version, definition.PendingVersion);

        var silo = options.Value;
        var keyspaceOptions = silo.ToKeyspaceOptions() with
        {
            EvictionPolicy = settings.EvictionPolicy ?? silo.EvictionPolicy,
            MaxMemoryBytes = silo.EffectiveMaxMemoryBytes(settings.MaxMemoryBytesPerShard),
        };
        if (settings.MaxMemoryBytesPerShard is { } asked && asked != keyspaceOptions.MaxMemoryBytes)
        {
            // Stored before the ceiling existed (0 meant unbounded) or above a ceiling lowered since.
            LogMemoryBoundCapped(logger, self, asked, keyspaceOptions.MaxMemoryBytes);
        }

        _keyspace = new CacheKeyspace(keyspaceOptions, time) { KeyRemoved = OnKeyRemoved };
        this.RegisterGrainTimer(
            static (grain, _) =>
            {
                grain.ActiveExpiryTick();
                return Task.CompletedTask;
            },
            this,
            new GrainTimerCreationOptions(silo.ActiveExpiryInterval, silo.ActiveExpiryInterval) { KeepAlive = false });

        if (_persistence == CachePersistence.Volatile)
        {
            if (silo.DirectLocalCommands)
            {
                lock (_gate)
                {
                    _direct = true;
                }

                localShards.Add(_cache, _shard, this);
            }

            LogActivatedVolatile(logger, self, _minimumRingVersion);
            return;
        }

        var started = time.GetTimestamp();
        var snapshot = await store.OpenAsync(_cache, _shard, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        _epoch = snapshot.Epoch;
        _keyspace.SeedVersions(_epoch << VersionFloorShift);
        _keyspace.Import(snapshot.Entries);
        _keysLoaded = snapshot.Entries.Count;
        LogActivatedPersistent(logger, self, _persistence, _keysLoaded, _epoch, time.GetElapsedTime(started).TotalMilliseconds);

        if (_persistence == CachePersistence.Snapshot)
        {
            var interval = TimeSpan.FromMilliseconds(settings.SnapshotIntervalMilliseconds ?? (int)silo.SnapshotInterval.TotalMilliseconds);
            this.RegisterGrainTimer(
                static (grain, cancellation) =>
                {
                    if (!grain._broken && (grain._dirty.Count > 0 || grain._clearPending))
                    {
                        _ = grain.ObserveAsync(grain.FlushAsync());
                    }

                    return Task.CompletedTask;
                },
                this,
                new GrainTimerCreationOptions(interval, interval) { KeepAlive = false });
        }
    }

    /// <inheritdoc/>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CloseDirect();
        LogDeactivating(logger, this.GetPrimaryKeyString(), _persistence, _keyspace?.Count ?? 0, reason.ReasonCode, reason.Description);
        await DrainBehindAsync(cancellationToken);
        // A snapshot cache writes what changed since the last snapshot before it goes away.
        if (_persistence != CachePersistence.Volatile && !_broken && (_dirty.Count > 0 || _clearPending || Flushes.Writing))
        {
            try
            {
                await FlushAsync();
            }
            catch (GranaryException ex)
            {
                LogFinalFlushFailed(logger, ex, this.GetPrimaryKeyString());
            }
        }
    }

    /// <inheritdoc/>
    public Task<Immutable<CacheReply[]>> ExecuteAsync(Immutable<string[][]> batch, long ringVersion) =>
        ExecuteIf(batch, ringVersion, watched: null, stamps: null)!;

    /// <summary>
    /// A direct batch from this silo's endpoints (<see cref="ILocalCacheShards"/>): runs it now, on the
    /// calling thread, putting in <paramref name="replies"/> the replies <see cref="ExecuteAsync"/> gives;
    /// false (nothing ran) when this activation does not take direct commands (not volatile, deactivating,
    /// a backing-table or near-cache call seen) or the batch is not one <see cref="ExecuteAsync"/> accepts:
    /// the caller then makes the grain call.
    /// </summary>
    internal bool TryExecuteDirect(ReadOnlySpan<string[]> commands, Span<CacheReply> replies, long ringVersion)
    {
        if (commands.Length is 0 or > Limits.MaxBatchSize || replies.Length < commands.Length)
        {
            return false;
        }

        lock (_gate)
        {
            if (!_direct || _directClosed)
            {
                return false;
            }

            // A volatile shard never waits for a flush.
            ExecuteLocked(commands, replies, ringVersion, out _);
            return true;
        }
    }

    /// <summary>Runs a batch under <c>_gate</c>: MOVED for an older ring, TRYAGAIN while broken, else each command's reply.</summary>
    private void ExecuteLocked(ReadOnlySpan<string[]> commands, Span<CacheReply> replies, long ringVersion, out bool wait)
    {
        wait = false;
        replies = replies[..commands.Length];
        if (ringVersion < _minimumRingVersion)
        {
            replies.Fill(CacheReply.Moved(_minimumRingVersion));
            return;
        }

        if (_broken)
        {
            // Memory may hold writes that never became durable: nothing is served until the reload.
            replies.Fill(CacheReply.Error("TRYAGAIN shard storage write failed; the shard is reloading"));
            return;
        }

        // Each command gets its own reply, error replies included: one caller's bad command never fails
        // the other callers' commands that were coalesced into this call. The batch's commands see one instant.
        _keyspace.HoldClock();
        try
        {
            wait = Run(commands, replies);
        }
        finally
        {
            _keyspace.ReleaseClock();
        }

        AfterPlainWrites(commands, replies);
    }

    /// <summary>
    /// Stops taking direct commands for the rest of this activation; returns once no direct batch is
    /// running. Called before any path that keeps keyspace state across awaits or notifies subscribers.
    /// </summary>
    private void CloseDirect()
    {
        lock (_gate)
        {
            if (!_direct || _directClosed)
            {
                return;
            }

            _directClosed = true;
        }

        localShards.Remove(_cache, _shard, this);
    }

    /// <inheritdoc/>
    public Task<long[]> WatchAsync(string[] keys, long ringVersion)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_gate)
        {
            return Task.FromResult(ringVersion < _minimumRingVersion ? [] : _keyspace.Watch(keys));
        }
    }

    /// <inheritdoc/>
    public async Task<Immutable<CacheReply[]>?> ExecuteWatchedAsync(Immutable<string[][]> commands, string[] watched, long[] stamps, long ringVersion)
    {
        ArgumentNullException.ThrowIfNull(watched);
        ArgumentNullException.ThrowIfNull(stamps);
        return ExecuteIf(commands, ringVersion, watched, stamps) is { } run ? await run : null;
    }

    /// <summary>
    /// Runs a grain call's batch in one hold of <c>_gate</c>, first checking, when <paramref name="watched"/>
    /// is given, that none of those keys changed since <paramref name="stamps"/> (null when one did or the
    /// ring is older: nothing ran). A write-through batch that changed something completes once durable.
    /// </summary>
    private Task<Immutable<CacheReply[]>>? ExecuteIf(Immutable<string[][]> batch, long ringVersion, string[]? watched, long[]? stamps)
    {
        var commands = batch.Value;
        if (commands is null || commands.Length > Limits.MaxBatchSize)
        {
            throw new InvalidRequestException(nameof(commands), $"must hold 1 to {Limits.MaxBatchSize} commands");
        }

        bool wait;
        CacheReply[] replies;
        lock (_gate)
        {
            // The check and the commands under one hold: no grain turn and no direct batch runs in between.
            if (watched is not null && (ringVersion < _minimumRingVersion || !_keyspace.WatchedUnchanged(watched, stamps!)))
            {
                return null;
            }

            replies = new CacheReply[commands.Length];
            ExecuteLocked(commands, replies, ringVersion, out wait);
        }

        return wait && _persistence == CachePersistence.WriteThrough
            ? AfterFlushAsync(replies)
            : Task.FromResult(replies.AsImmutable());
    }

    /// <inheritdoc/>
    public Task<CacheStatistics> GetStatisticsAsync() => Task.FromResult(Statistics() with
    {
        StorageWrites = _storageWrites,
        KeysPersisted = _keysPersisted,
        KeysLoaded = _keysLoaded,
        BackingLoads = _backingLoads,
        BackingWrites = _backingWrites,
        Subscribers = _observers.Count,
        WriteBehindPending = _behindQueue?.Count ?? 0,
        WriteBehindFailedWrites = _behindQueue?.FailedWrites ?? 0,
        WriteBehindRefused = _behindQueue?.Refused ?? 0,
        BackingVersions = _versions.Count,
    });

    /// <inheritdoc/>
    public async Task<CacheEntryExport[]> ExportMovedAsync(CacheDefinition target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var map = target.BuildMap();
        lock (_gate)
        {
            _minimumRingVersion = Math.Max(_minimumRingVersion, target.Version);
        }

        // Every write accepted so far must be durable before its key leaves: otherwise a late flush
        // here could overwrite the row the new owner writes. No new writes arrive (old ring refused).
        while (_persistence != CachePersistence.Volatile && (_dirty.Count > 0 || _clearPending || Flushes.Writing))
        {
            await FlushAsync();
        }

        // Pending write-behind rows reach the table before their keys leave.
        await FlushBehindAsync();
        IReadOnlyList<CacheEntryData> moved;
        lock (_gate)
        {
            moved = _keyspace.ExtractWhere(key => map.ShardOf(key) != _shard);
        }

        return [.. moved.Select(e => new CacheEntryExport(e.Key, (int)e.Type, e.Items, e.ExpiresAt))];
    }

    /// <inheritdoc/>
    public async Task ImportAsync(CacheEntryExport[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        lock (_gate)
        {
            _keyspace.Import(entries.Select(e => new CacheEntryData(e.Key, (CacheValueType)e.Type, e.Items, e.ExpiresAt)));
        }

        if (_persistence != CachePersistence.Volatile)
        {
            // The rows are re-tagged with this shard before the reshard publishes the new ring.
            foreach (var entry in entries)
            {
                _dirty.Add(entry.Key);
            }

            await FlushAsync();
        }
    }

    /// <summary>
    /// Runs a batch. On a persistent shard a write that changed something marks its keys dirty; a command
    /// that changed nothing (an error reply, a no-op write) marks nothing and costs no storage write, but
    /// like a read it waits for keys whose writes are not durable yet. True when the caller must wait for a flush.
    /// </summary>
    private bool Run(ReadOnlySpan<string[]> commands, Span<CacheReply> replies)
    {
        var tracked = _persistence != CachePersistence.Volatile;
        var wait = false;
        for (var i = 0; i < commands.Length; i++)
        {
            var command = commands[i];
            if (command is not { Length: > 0 })
            {
                replies[i] = CacheReply.Error("ERR empty command");
                continue;
            }

            var faults = _keyspace.Faults;
            replies[i] = _keyspace.Execute(command);
            if (_keyspace.Faults != faults)
            {
                metrics.CommandFaults.Add(1, new KeyValuePair<string, object?>("cache", _cache));
                LogCommandFault(logger, _keyspace.LastFault, this.GetPrimaryKeyString(), command[0]);
            }

            if (!tracked || CacheCommandTable.Resolve(command) is not { } info)
            {
                continue;
            }

            var write = info.IsWrite;
            if (info.IsAllShards)
            {
                if (write && !replies[i].IsError)
                {
                    _clearPending = true;
                    _dirty.Clear();
                    wait = true;
                }
                else
                {
                    wait |= _dirty.Count > 0 || _writing.Count > 0 || _clearPending;
                }

                continue;
            }

            var changed = write && _keyspace.LastCommandChanged;
            foreach (var key in info.Keys(command))
            {
                if (changed)
                {
                    _dirty.Add(key);
                    wait = true;
                }
                else
                {
                    // Never answer with a value that is not durable yet.
                    wait |= _dirty.Contains(key) || _writing.Contains(key);
                }
            }
        }

        return wait;
    }

    private CacheStatistics Statistics()
    {
        lock (_gate)
        {
            return _keyspace.Statistics;
        }
    }

    private async Task<Immutable<CacheReply[]>> AfterFlushAsync(CacheReply[] replies)
    {
        await FlushAsync();
        return replies.AsImmutable();
    }

    private Task FlushAsync() => Flushes.CommitAsync();

    /// <summary>
    /// One group-commit write: the dirty keys' current rows in a single storage write. Any failure, in
    /// the store or while building the rows (even OutOfMemoryException), breaks the shard: memory now
    /// holds writes storage may not (or another activation owns the shard), so it fails this batch
    /// and every caller queued behind it (sticky) and the shard reloads.
    /// </summary>
    private async Task WriteDirtyAsync()
    {
        var keys = 0;
        try
        {
            _writing = _dirty;
            _dirty = new HashSet<string>(StringComparer.Ordinal);
            var clear = _clearPending;
            _clearPending = false;

            // The rows carry each key's state now: several writes to a key since the last flush become one row.
            var upserts = new List<CacheEntryData>(_writing.Count);
            var deletes = new List<string>();
            foreach (var key in _writing)
            {
                if (_keyspace.Snapshot(key) is { } entry)
                {
                    upserts.Add(entry);
                }
                else if (!clear)
                {
                    deletes.Add(key);
                }
            }

            keys = upserts.Count + deletes.Count;
            if (keys > 0 || clear)
            {
                await store.WriteAsync(_cache, _shard, _epoch, clear, upserts, deletes, CancellationToken.None);
                _storageWrites++;
                _keysPersisted += keys;
            }
        }
        catch (Exception ex)
        {
            throw Broken(ex, keys);
        }
        finally
        {
            _writing = new HashSet<string>(StringComparer.Ordinal);
        }
    }

    private ServiceUnavailableException Broken(Exception ex, int keys)
    {
        _broken = true;
        var shard = this.GetPrimaryKeyString();
        var error = new ServiceUnavailableException($"cache shard '{shard}': storage write failed ({ex.GetType().Name}: {ex.Message}); no write in this batch was confirmed");
        try
        {
            LogWriteFailed(logger, ex, shard, keys);
            DeactivateOnIdle();
        }
        catch (Exception secondary)
        {
            // The waiters get their answer from the group commit; _broken refuses everything until the reload.
            LogWriteFailed(logger, secondary, shard, keys);
        }

        return error;
    }

    private async Task ObserveAsync(Task task)
    {
        try
        {
            await task;
        }
        catch (GranaryException ex)
        {
            LogSnapshotFailed(logger, ex, this.GetPrimaryKeyString());
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Cache shard {Shard} activated empty (volatile), refusing ring versions below {RingVersion}")]
    private static partial void LogActivatedVolatile(ILogger logger, string shard, long ringVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cache shard {Shard} ({Persistence}) loaded {Keys} keys at epoch {Epoch} in {Milliseconds:F0} ms")]
    private static partial void LogActivatedPersistent(ILogger logger, string shard, CachePersistence persistence, long keys, long epoch, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cache shard {Shard}: storage write of {Keys} keys failed; deactivating to reload")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, string shard, int keys);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cache shard {Shard}: snapshot failed")]
    private static partial void LogSnapshotFailed(ILogger logger, Exception exception, string shard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cache shard {Shard} ({Persistence}) deactivating with {Keys} keys in memory: {ReasonCode} {Reason}")]
    private static partial void LogDeactivating(ILogger logger, string shard, CachePersistence persistence, int keys, DeactivationReasonCode reasonCode, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cache shard {Shard}: command {Command} failed inside the engine and was answered with an error reply")]
    private static partial void LogCommandFault(ILogger logger, Exception? exception, string shard, string command);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cache shard {Shard}: the cache's memory bound of {Asked} bytes per shard is 0 or above Granary:Caching:MemoryCeilingBytesPerShard; using {Applied} bytes")]
    private static partial void LogMemoryBoundCapped(ILogger logger, string shard, long asked, long applied);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cache shard {Shard}: final flush on deactivation failed")]
    private static partial void LogFinalFlushFailed(ILogger logger, Exception exception, string shard);
}
