using System.Globalization;
using Granary.Collections;
using Granary.Errors;
using Granary.Scheduling;
using Microsoft.Extensions.Logging;

namespace Granary.Caching;

/// <summary>
/// The backing-table side of a shard: read-through with single-flight loads, write-through,
/// write-behind with a bounded flush delay, version checks, and invalidation notices to near-caches.
/// The grain is reentrant, so a load or a table write in progress lets other calls run; what keeps
/// the cache from going back in time meanwhile:
/// <list type="bullet">
/// <item>the backing version of each cached key is remembered, and a value older than the one cached
/// is never stored;</item>
/// <item>a load that a write (any command, including the DEL of a cache-aside invalidation) overtook
/// is not cached;</item>
/// <item>a write the table refused as older removes the cached copy if that is older than the table's.</item>
/// </list>
/// </summary>
public sealed partial class CacheShardGrain
{
    // The backing version of each cached key, kept only while it matters (ForgetVersionIfUnused): so it is
    // bounded by the keys cached plus the writes and loads in flight plus the write-behind rows queued.
    private readonly Dictionary<string, long> _versions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _writesInFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<BackingRecord?>> _loads = new(StringComparer.Ordinal);
    private readonly HashSet<string> _overtakenLoads = new(StringComparer.Ordinal);
    private readonly Dictionary<ICacheInvalidationObserver, DateTimeOffset> _observers = [];
    private readonly Guid _activationId = Guid.NewGuid();
    private static readonly TimeSpan DrainRetryDelay = TimeSpan.FromMilliseconds(50);
    private WriteBehindQueue? _behindQueue;
    private IGrainTimer? _behindTimer;
    private DateTimeOffset? _behindArmedFor;
    private Task _behindFlush = Task.CompletedTask;
    private DateTimeOffset _subscriptionsSweptAt;
    private long _backingLoads;
    private long _backingWrites;

    /// <inheritdoc/>
    public async Task<BackedRead> ReadThroughAsync(string key, long ringVersion)
    {
        CloseDirect();
        if (ringVersion < _minimumRingVersion)
        {
            return new BackedRead(null, 0, false, Moved: true);
        }

        var table = RequireTable(key);
        var cached = Cached(key);
        if (cached is not null)
        {
            return cached;
        }

        if (_behindQueue is { } queue && queue.TryGetQueued(key, out var queued))
        {
            // Acknowledged but not in the table yet (its cached copy was evicted or expired): the table is older.
            return new BackedRead(queued.Value, queued.Version, LoadedFromStore: false);
        }

        if (!_loads.TryGetValue(key, out var load))
        {
            // A store that answers synchronously finishes the load (and its clean-up) right here.
            load = LoadAsync(table, key);
            if (!load.IsCompleted)
            {
                _loads[key] = load;
            }
        }

        var record = await load;
        return new BackedRead(record?.Value, record?.Version ?? 0, LoadedFromStore: true);
    }

    /// <inheritdoc/>
    public async Task<BackedWrite> WriteThroughAsync(string key, string? value, long version, long ringVersion)
    {
        CloseDirect();
        if (ringVersion < _minimumRingVersion)
        {
            return new BackedWrite(BackedOutcome.Moved, 0);
        }

        var table = RequireTable(key);
        CheckValue(value, version);
        _backingWrites++;
        _writesInFlight[key] = _writesInFlight.GetValueOrDefault(key) + 1;
        try
        {
            var result = await backing.WriteAsync(table, key, value, version, CancellationToken.None);
            if (!result.Stored)
            {
                DropIfOlder(key, result.CurrentVersion);
                return new BackedWrite(BackedOutcome.OlderVersion, result.CurrentVersion);
            }

            await ApplyAsync(key, value, version);
            return new BackedWrite(BackedOutcome.Stored, version);
        }
        finally
        {
            if (--_writesInFlight[key] == 0)
            {
                _writesInFlight.Remove(key);
            }

            ForgetVersionIfUnused(key);
        }
    }

    /// <inheritdoc/>
    public async Task<BackedWrite> WriteBehindAsync(string key, string? value, long version, long ringVersion)
    {
        CloseDirect();
        if (ringVersion < _minimumRingVersion)
        {
            return new BackedWrite(BackedOutcome.Moved, 0);
        }

        RequireTable(key);
        CheckValue(value, version);
        if (_versions.TryGetValue(key, out var current) && current >= version)
        {
            return new BackedWrite(BackedOutcome.OlderVersion, current);
        }

        var queue = Behind;
        if (queue.TryGetPending(key, out var pending) && pending.Version >= version)
        {
            return new BackedWrite(BackedOutcome.OlderVersion, pending.Version);
        }

        if (!queue.TryAdd(key, new WriteBehindRow(value, version)))
        {
            // Bounded: while the table is down, memory does not grow without limit; the cache is unchanged.
            metrics.WriteBehindRefused.Add(1, new KeyValuePair<string, object?>("cache", _cache));
            throw new GranaryException(
                ErrorCodes.ResourceExhausted,
                $"cache shard '{this.GetPrimaryKeyString()}': {queue.Count} write-behind rows are waiting for backing table '{_settings.BackingTable}' (the limit, {options.Value.WriteBehindMaxPendingRows}); the write was not applied, send it again later");
        }

        ArmBehindFlush();
        await ApplyAsync(key, value, version);
        return new BackedWrite(BackedOutcome.Stored, version);
    }

    /// <inheritdoc/>
    public Task<Guid> SubscribeAsync(ICacheInvalidationObserver observer)
    {
        CloseDirect();
        ArgumentNullException.ThrowIfNull(observer);
        if (!_observers.ContainsKey(observer) && _observers.Count >= Limits.Caching.MaxSubscribersPerShard)
        {
            DropLapsedSubscriptions();
            if (_observers.Count >= Limits.Caching.MaxSubscribersPerShard)
            {
                throw new GranaryException(
                    ErrorCodes.ResourceExhausted,
                    $"cache shard '{this.GetPrimaryKeyString()}' already serves {_observers.Count} near-caches (the limit, {Limits.Caching.MaxSubscribersPerShard}); subscriptions not renewed within {options.Value.SubscriptionExpiry} are dropped");
            }
        }

        _observers[observer] = time.GetUtcNow();
        return Task.FromResult(_activationId);
    }

    /// <inheritdoc/>
    public Task UnsubscribeAsync(ICacheInvalidationObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _observers.Remove(observer);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task DeactivateAsync()
    {
        // The pending writes are flushed by OnDeactivateAsync, the same path a silo shutdown takes.
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Called after plain commands ran: the keys of writes that were not refused with an error lose their
    /// known version, overtake loads (even a no-op DEL: it may be a cache-aside invalidation), and are announced.
    /// </summary>
    private void AfterPlainWrites(ReadOnlySpan<string[]> commands, ReadOnlySpan<CacheReply> replies)
    {
        if (_observers.Count == 0 && _loads.Count == 0 && _versions.Count == 0)
        {
            return;
        }

        List<string>? written = null;
        var all = false;
        for (var i = 0; i < commands.Length; i++)
        {
            var command = commands[i];
            if (replies[i].IsError || CacheCommandTable.Resolve(command) is not { IsWrite: true } info)
            {
                continue;
            }

            if (info.IsAllShards)
            {
                all = true;
                continue;
            }

            (written ??= []).AddRange(info.Keys(command));
        }

        if (all)
        {
            _versions.Clear();
            _overtakenLoads.UnionWith(_loads.Keys);
            Notify([], []);
            return;
        }

        if (written is null)
        {
            return;
        }

        foreach (var key in written)
        {
            _versions.Remove(key);
            if (_loads.ContainsKey(key))
            {
                _overtakenLoads.Add(key);
            }
        }

        Notify([.. written.Distinct(StringComparer.Ordinal)], null);
    }

    private BackedRead? Cached(string key)
    {
        var reply = _keyspace.Execute("GET", key);
        if (reply.IsError)
        {
            throw new InvalidRequestException(nameof(key), reply.Text!);
        }

        return reply.IsNil ? null : new BackedRead(reply.Text, _versions.GetValueOrDefault(key), LoadedFromStore: false);
    }

    private async Task<BackingRecord?> LoadAsync(string table, string key)
    {
        try
        {
            _backingLoads++;
            var record = await backing.LoadAsync(table, key, CancellationToken.None);

            // Cache it unless a write overtook the load or the cache already knows something at least as new.
            if (record?.Value is { } value
                && !_overtakenLoads.Contains(key)
                && !(_versions.TryGetValue(key, out var known) && known >= record.Version)
                && _keyspace.Execute("EXISTS", key).Integer == 0)
            {
                var reply = _keyspace.Execute("SET", key, value, "PX", TtlMilliseconds());
                if (!reply.IsError)
                {
                    _versions[key] = record.Version;
                    MarkDirty(key);
                }
            }

            return record;
        }
        finally
        {
            _loads.Remove(key);
            _overtakenLoads.Remove(key);
            ForgetVersionIfUnused(key);
        }
    }

    /// <summary>The keyspace dropped <paramref name="key"/> (expired, evicted, deleted, moved): its version may go too.</summary>
    private void OnKeyRemoved(string key)
    {
        if (_versions.Count > 0)
        {
            ForgetVersionIfUnused(key);
        }
    }

    /// <summary>
    /// Forgets the backing version of <paramref name="key"/> unless something still relies on it: the key is
    /// cached, a table write or load of it is in flight (a late, older one must not be applied), or a
    /// write-behind row of it is queued.
    /// </summary>
    private void ForgetVersionIfUnused(string key)
    {
        if (!_writesInFlight.ContainsKey(key)
            && !_loads.ContainsKey(key)
            && !(_behindQueue is { } queue && queue.TryGetQueued(key, out _))
            && !_keyspace.Contains(key))
        {
            _versions.Remove(key);
        }
    }

    /// <summary>The active expiry cycle; also drops lapsed subscriptions once per subscription expiry, written to or not.</summary>
    private void ActiveExpiryTick()
    {
        lock (_gate)
        {
            _keyspace.ExpireCycle();
        }

        SparseTrim.TrimIfSparse(_versions);
        var now = time.GetUtcNow();
        if (_observers.Count > 0 && now - _subscriptionsSweptAt >= options.Value.SubscriptionExpiry)
        {
            _subscriptionsSweptAt = now;
            DropLapsedSubscriptions();
        }
    }

    /// <summary>Drops near-cache subscriptions not renewed within <see cref="CacheShardOptions.SubscriptionExpiry"/>.</summary>
    private void DropLapsedSubscriptions()
    {
        var expiry = time.GetUtcNow() - options.Value.SubscriptionExpiry;
        foreach (var (observer, renewed) in _observers.ToList())
        {
            if (renewed < expiry)
            {
                _observers.Remove(observer);
            }
        }
    }

    private async Task ApplyAsync(string key, string? value, long version)
    {
        // A concurrent write with a newer version may have been applied while this one was in the table.
        if (!(_versions.TryGetValue(key, out var current) && current > version))
        {
            var reply = value is null ? _keyspace.Execute("DEL", key) : _keyspace.Execute("SET", key, value, "PX", TtlMilliseconds());
            if (reply.IsError)
            {
                // E.g. OOM under no-eviction: the table has the write, the cache must not keep an older copy.
                _keyspace.Execute("DEL", key);
                _versions.Remove(key);
            }
            else
            {
                _versions[key] = version;
            }
        }

        if (_loads.ContainsKey(key))
        {
            _overtakenLoads.Add(key);
        }

        Notify([key], [version]);
        MarkDirty(key);
        if (_persistence == CachePersistence.WriteThrough)
        {
            await FlushAsync();
        }
    }

    private void DropIfOlder(string key, long tableVersion)
    {
        if (_versions.GetValueOrDefault(key, -1) < tableVersion && _keyspace.Execute("DEL", key).Integer > 0)
        {
            _versions.Remove(key);
            Notify([key], [tableVersion]);
            MarkDirty(key);
        }
    }

    private void MarkDirty(string key)
    {
        if (_persistence != CachePersistence.Volatile)
        {
            _dirty.Add(key);
        }
    }

    private WriteBehindQueue Behind => _behindQueue ??= new WriteBehindQueue(
        TimeSpan.FromMilliseconds(_settings.WriteBehindDelayMilliseconds ?? (int)options.Value.WriteBehindDelay.TotalMilliseconds),
        options.Value.WriteBehindMaxRetryDelay,
        options.Value.WriteBehindMaxPendingRows,
        time);

    /// <summary>Sets the flush timer to the queue's due time (a row's delay, or the backoff after failed flushes).</summary>
    private void ArmBehindFlush()
    {
        if (_behindQueue?.DueAt is not { } due || due == _behindArmedFor)
        {
            return;
        }

        _behindArmedFor = due;
        _behindTimer ??= this.RegisterGrainTimer(
            static (grain, cancellation) => grain.FlushBehindAsync(CancellationToken.None),
            this,
            new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
        _behindTimer.Change(_behindQueue.TimeUntilDue, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Writes every pending write-behind row to the table (one flush at a time; callers wait for it).</summary>
    private Task FlushBehindAsync(CancellationToken cancellationToken = default)
    {
        if (!_behindFlush.IsCompleted)
        {
            return ChainAsync(_behindFlush);
        }

        _behindFlush = FlushBehindOnceAsync(cancellationToken);
        return _behindFlush;

        async Task ChainAsync(Task running)
        {
            await running;
            await FlushBehindAsync(cancellationToken);
        }
    }

    private async Task FlushBehindOnceAsync(CancellationToken cancellationToken)
    {
        _behindArmedFor = null;
        if (_behindQueue is not { Pending: > 0 } queue)
        {
            return;
        }

        var table = _settings.BackingTable!;
        var rows = queue.Take();
        var written = new bool[rows.Count];
        try
        {
            // Rows of different keys are independent: up to 32 table writes in flight at once.
            for (var start = 0; start < rows.Count; start += 32)
            {
                var end = Math.Min(rows.Count, start + 32);
                await Task.WhenAll(Enumerable.Range(start, end - start).Select(i => WriteBehindRowAsync(table, rows[i], written, i, cancellationToken)));
            }
        }
        catch (Exception ex)
        {
            // Whatever failed, the rows not confirmed by the table stay queued: the loop goes on.
            LogBehindFlushFailed(logger, ex, this.GetPrimaryKeyString());
        }
        finally
        {
            var failed = rows.Where((_, i) => !written[i]).ToList();
            queue.Complete(rows.Count, failed);
            if (failed.Count > 0)
            {
                metrics.WriteBehindFailedWrites.Add(failed.Count, new KeyValuePair<string, object?>("cache", _cache));
            }

            // The versions of rows now in the table (e.g. deletes, or keys evicted meanwhile) need not stay.
            foreach (var (key, _) in rows)
            {
                ForgetVersionIfUnused(key);
            }

            ArmBehindFlush();
        }
    }

    private async Task WriteBehindRowAsync(string table, KeyValuePair<string, WriteBehindRow> row, bool[] written, int index, CancellationToken cancellationToken)
    {
        var (key, pending) = row;
        BackingWriteResult result;
        try
        {
            _backingWrites++;
            result = await backing.WriteAsync(table, key, pending.Value, pending.Version, cancellationToken);
        }
        catch (Exception ex)
        {
            // Any failure, OutOfMemoryException included: the row stays queued and is retried after the backoff.
            LogBehindWriteFailed(logger, ex, this.GetPrimaryKeyString(), key);
            return;
        }

        written[index] = true;
        if (!result.Stored && _versions.GetValueOrDefault(key, -1) == pending.Version)
        {
            // The table has something newer than this acknowledged write: the cache must not keep it.
            DropIfOlder(key, result.CurrentVersion);
        }
    }

    /// <summary>
    /// On deactivation: writes the pending rows, retrying failed ones with a short backoff for at most
    /// <see cref="CacheShardOptions.WriteBehindDrainTimeout"/> (or until the deactivation is cut short);
    /// rows the table still has not taken are given up, logged and counted as dropped.
    /// </summary>
    private async Task DrainBehindAsync(CancellationToken cancellationToken)
    {
        if (_behindQueue is not { } queue)
        {
            return;
        }

        // The shard is going away: retry soon and often within the drain time (not after the write-behind delay).
        var budget = options.Value.WriteBehindDrainTimeout;
        var retry = new BackoffPolicy(DrainRetryDelay, budget > DrainRetryDelay * 4 ? budget / 4 : DrainRetryDelay, jitter: false);
        using var limit = new CancellationTokenSource(budget, time);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        try
        {
            await FlushBehindAsync(drain.Token);
            for (var attempt = 1; queue.Pending > 0; attempt++)
            {
                await Task.Delay(retry.DelayFor(attempt, Random.Shared), time, drain.Token);
                await FlushBehindAsync(drain.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Out of time: what is left is reported below.
        }

        var dropped = queue.DropAll();
        if (dropped.Count > 0)
        {
            metrics.WriteBehindDropped.Add(dropped.Count, new KeyValuePair<string, object?>("cache", _cache));
            LogBehindRowsDropped(logger, this.GetPrimaryKeyString(), dropped.Count, _settings.BackingTable, queue.ConsecutiveFailedFlushes, string.Join(", ", dropped.Take(10)));
        }
    }

    private void Notify(string[] keys, long[]? versions)
    {
        if (_observers.Count == 0)
        {
            return;
        }

        DropLapsedSubscriptions();
        var notice = new CacheInvalidation(_cache, _shard, keys, versions ?? new long[keys.Length]);
        foreach (var observer in _observers.Keys.ToList())
        {
            try
            {
                _ = observer.InvalidatedAsync(notice);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _observers.Remove(observer);
                LogNotifyFailed(logger, ex, this.GetPrimaryKeyString());
            }
        }
    }

    private string RequireTable(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > Limits.MaxKeyLength)
        {
            throw new InvalidRequestException(nameof(key), $"must be 1 to {Limits.MaxKeyLength} characters");
        }

        Guard.Storable(key, nameof(key));
        return _settings.BackingTable ?? throw new InvalidRequestException("cache", $"'{_cache}' fronts no backing table (create it with a backing table)");
    }

    private void CheckValue(string? value, long version)
    {
        Guard.InRange(version, nameof(version), 1, long.MaxValue);
        if (value is not null && value.Length > _keyspace.Options.MaxValueLength)
        {
            throw new InvalidRequestException(nameof(value), $"is {value.Length} characters long; the limit is {_keyspace.Options.MaxValueLength}");
        }

        Guard.Storable(value, nameof(value));
    }

    private string TtlMilliseconds() => ((long)options.Value.ReadThroughTtl.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cache shard {Shard}: write-behind of {Key} to the backing table failed; retrying at the next flush")]
    private static partial void LogBehindWriteFailed(ILogger logger, Exception exception, string shard, string key);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cache shard {Shard}: a write-behind flush failed; its unwritten rows stay queued")]
    private static partial void LogBehindFlushFailed(ILogger logger, Exception exception, string shard);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cache shard {Shard}: deactivating with {Rows} acknowledged write-behind rows that backing table {Table} did not take after {FailedFlushes} failed flushes; they are dropped (first keys: {Keys})")]
    private static partial void LogBehindRowsDropped(ILogger logger, string shard, int rows, string? table, int failedFlushes, string keys);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Cache shard {Shard}: an invalidation could not be sent; subscription dropped")]
    private static partial void LogNotifyFailed(ILogger logger, Exception exception, string shard);
}
