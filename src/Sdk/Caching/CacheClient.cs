using System.Globalization;
using Granary.Caching;
using Granary.Client.Batching;
using Granary.Client.Configuration;
using Granary.Errors;
using Granary.Hashing;
using Orleans.Concurrency;

namespace Granary.Client.Caching;

/// <summary>
/// Client of one named cache. Keeps a snapshot of the cache's ring (refreshed when its version
/// changes), routes each command to the shard owning its key, splits multi-key commands by shard,
/// fans SCAN/KEYS/DBSIZE/FLUSHALL out to every shard, and coalesces concurrent commands for the
/// same shard into one grain call. Thread-safe; share one per cache. Every call is bounded by
/// <see cref="CacheClientOptions.CallTimeout"/> (<see cref="TimeoutException"/>) and by its cancellation
/// token (<see cref="OperationCanceledException"/>); a command that timed out or was cancelled may still
/// have run on its shard.
/// </summary>
/// <example><code>
/// await using var cache = await CacheClient.ConnectAsync(grains, "catalogue");
/// await cache.ExecuteAsync(["SET", "sku:42", "apples", "EX", "60"], ct);
/// string? value = (await cache.ExecuteAsync(["GET", "sku:42"], ct)).Text;
/// </code></example>
public sealed partial class CacheClient : IAsyncDisposable
{
    private const int MaxMovedRetries = 20;

    private readonly IGrainFactory _grains;
    private readonly CacheClientOptions _options;
    private readonly CallBound _bound;
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private readonly SingleFlight<string, string?> _loads = new(StringComparer.Ordinal);
    private long _backingLoads;
    private long _movedReplies;
    private int _disposed;
    private readonly NearCache? _near;
    private readonly ICacheInvalidationObserver? _observer;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<int, Guid> _subscribedActivations = [];
    private Task _renewals = Task.CompletedTask;
    private Routing _routing;
    private long _nextRefreshTicks;

    private CacheClient(IGrainFactory grains, string name, CacheClientOptions options, CacheDefinition definition)
    {
        _grains = grains;
        Name = name;
        _options = options;
        _bound = new CallBound(options.CallTimeout, options.TimeProvider);
        _routing = new Routing(definition, grains, options);
        _nextRefreshTicks = Environment.TickCount64 + (long)options.RingRefreshInterval.TotalMilliseconds;
        if (options.NearCache)
        {
            _near = new NearCache(options.TimeProvider, options.NearCacheTtl);
            _observer = grains.CreateObjectReference<ICacheInvalidationObserver>(_near);
        }
    }

    /// <summary>Near-cache hits, misses, invalidations received and fills refused (zeros without a near-cache).</summary>
    public (long Hits, long Misses, long Invalidations, long RefusedFills) NearCacheCounters => _near?.Counters ?? default;

    /// <summary>The newest backing version an invalidation received by the near-cache named for <paramref name="key"/>.</summary>
    public long NewestInvalidatedVersion(string key) => _near?.NewestInvalidatedVersion(key) ?? 0;

    /// <summary>The cache name.</summary>
    public string Name { get; }

    /// <summary>The definition (shard count, ring version) the client routes by.</summary>
    public CacheDefinition Definition => Volatile.Read(ref _routing).Definition;

    /// <summary>Grain calls made and commands carried, since the last ring change (shows coalescing).</summary>
    public (long Calls, long Commands) BatchingCounters
    {
        get
        {
            var routing = Volatile.Read(ref _routing);
            return (routing.Batchers.Sum(b => b.Calls), routing.Batchers.Sum(b => b.Items));
        }
    }

    /// <summary>Commands run on a shard of this silo without a grain call (<see cref="CacheClientOptions.LocalShards"/>), since the last ring change.</summary>
    public long LocalCommands => Volatile.Read(ref _routing).LocalCommands;

    /// <summary>Connects to <paramref name="cacheName"/> (created with the default shard count on first use).</summary>
    public static async Task<CacheClient> ConnectAsync(IGrainFactory grains, string cacheName, CacheClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        Guard.Name(cacheName, "cache");
        if (cacheName.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidRequestException("cache", "must not contain '/'");
        }

        options ??= new CacheClientOptions();
        Guard.InRange(options.MaxInFlightPerShard, nameof(options.MaxInFlightPerShard), 1, 1024);
        Guard.InRange(options.MaxBatchSize, nameof(options.MaxBatchSize), 1, Limits.MaxBatchSize);
        Guard.InRange(options.CallTimeout, nameof(options.CallTimeout), TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10));
        Guard.InRange(options.NearCacheTtl, nameof(options.NearCacheTtl), TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(1));
        Guard.InRange(options.SubscriptionRenewal, nameof(options.SubscriptionRenewal), TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        var bound = new CallBound(options.CallTimeout, options.TimeProvider);
        var definition = await bound.On(grains.GetGrain<ICacheDefinitionGrain>(cacheName).GetAsync(), cancellationToken);
        var client = new CacheClient(grains, cacheName, options, definition);
        if (client._near is not null)
        {
            await client.SubscribeAllAsync(client._routing, cancellationToken);
            client._renewals = client.RenewSubscriptionsAsync();
        }

        return client;
    }

    /// <summary>
    /// Read-through: the cached value, or on a miss the value the owning shard loads from the cache's
    /// backing table (once for all concurrent misses of the key, from any client). With a near-cache,
    /// served locally until an invalidation arrives or its TTL passes.
    /// </summary>
    public async Task<BackedRead> ReadThroughAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        long token = 0;
        if (_near is not null && _near.TryGet(key, out var near, out token))
        {
            return near!;
        }

        for (var attempt = 0; ; attempt++)
        {
            var routing = Volatile.Read(ref _routing);
            var read = await _bound.On(routing.Shards[routing.ShardOf(key)].ReadThroughAsync(key, routing.Definition.Version), cancellationToken);
            if (!read.Moved)
            {
                _near?.Fill(key, token, read);
                return read;
            }

            await AfterMovedAsync(attempt, cancellationToken);
        }
    }

    /// <summary>Write-through: the backing table first (version-checked: refused when it holds this version or newer), then the cache.</summary>
    public Task<BackedWrite> WriteThroughAsync(string key, string? value, long version, CancellationToken cancellationToken = default) =>
        WriteBackedAsync(key, (shard, ring) => shard.WriteThroughAsync(key, value, version, ring), cancellationToken);

    /// <summary>Write-behind: the cache now (refused when it knows this version or newer), the backing table within the cache's write-behind delay.</summary>
    public Task<BackedWrite> WriteBehindAsync(string key, string? value, long version, CancellationToken cancellationToken = default) =>
        WriteBackedAsync(key, (shard, ring) => shard.WriteBehindAsync(key, value, version, ring), cancellationToken);

    private async Task<BackedWrite> WriteBackedAsync(string key, Func<ICacheShardGrain, long, Task<BackedWrite>> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        for (var attempt = 0; ; attempt++)
        {
            var routing = Volatile.Read(ref _routing);
            var result = await _bound.On(write(routing.Shards[routing.ShardOf(key)], routing.Definition.Version), cancellationToken);
            if (result.Outcome != BackedOutcome.Moved)
            {
                return result;
            }

            await AfterMovedAsync(attempt, cancellationToken);
        }
    }

    private async Task AfterMovedAsync(int attempt, CancellationToken cancellationToken)
    {
        if (attempt >= MaxMovedRetries)
        {
            throw new CacheCommandException($"MOVED: cache '{Name}' kept refusing ring version {Definition.Version}");
        }

        Interlocked.Increment(ref _movedReplies);
        await RefreshAsync(force: true, cancellationToken);
        if (attempt > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100, 5 * attempt)), _options.TimeProvider, cancellationToken);
        }
    }

    private async Task SubscribeAllAsync(Routing routing, CancellationToken cancellationToken)
    {
        var ids = await _bound.On(Task.WhenAll(routing.Shards.Select(s => s.SubscribeAsync(_observer!))), cancellationToken);
        var lapsed = false;
        lock (_subscribedActivations)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                // A shard that reactivated since the last renewal may have written keys unannounced to us.
                lapsed |= _subscribedActivations.TryGetValue(i, out var known) && known != ids[i];
                _subscribedActivations[i] = ids[i];
            }
        }

        if (lapsed)
        {
            _near!.Clear();
        }
    }

    private async Task RenewSubscriptionsAsync()
    {
        using var timer = new PeriodicTimer(_options.SubscriptionRenewal);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                try
                {
                    await SubscribeAllAsync(Volatile.Read(ref _routing), _stopping.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Unreachable shard: its notices may be lost; do not serve what it might have invalidated.
                    _near!.Clear();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>
    /// Creates <paramref name="cacheName"/> with <paramref name="shards"/> shards and <paramref name="settings"/>
    /// (idempotent for the same arguments) and connects to it.
    /// </summary>
    public static async Task<CacheClient> CreateAsync(IGrainFactory grains, string cacheName, int shards, CacheSettings settings, CacheClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        Guard.Name(cacheName, "cache");
        if (cacheName.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidRequestException("cache", "must not contain '/'");
        }

        options ??= new CacheClientOptions();
        var bound = new CallBound(options.CallTimeout, options.TimeProvider);
        await bound.On(grains.GetGrain<ICacheDefinitionGrain>(cacheName).CreateAsync(shards, settings), cancellationToken);
        return await ConnectAsync(grains, cacheName, options, cancellationToken);
    }

    /// <summary>Runs one Redis command (name first) and returns Redis's reply; errors are replies, not exceptions.</summary>
    /// <example><code>var reply = await cache.ExecuteAsync(["INCRBY", "stock:apples", "5"], ct);</code></example>
    public async Task<CacheReply> ExecuteAsync(string[] command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Any(a => a is null))
        {
            return CacheReply.Error("ERR empty command");
        }

        // Checked here as the shard checks it: an unpaired surrogate would not even reach the shard
        // intact (Orleans sends strings as UTF-8, which replaces it), so the value would change silently.
        if (StorableProblem(command) is { } problem)
        {
            return problem;
        }

        MaybeRefreshInBackground();
        for (var attempt = 0; ; attempt++)
        {
            var routing = Volatile.Read(ref _routing);
            var reply = await RouteAsync(routing, command).WaitAsync(cancellationToken);
            if (!reply.IsMoved || attempt >= MaxMovedRetries)
            {
                return reply;
            }

            Interlocked.Increment(ref _movedReplies);

            await RefreshAsync(force: true, cancellationToken);
            if (attempt > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100, 5 * attempt)), _options.TimeProvider, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="commands"/> as one unit: sent in one grain call of their own to the shard
    /// owning their keys (which must all live on one shard), where they run in order with no other
    /// command in between, as Redis's MULTI/EXEC does. Each command gets its own reply; a refused
    /// command does not stop the ones after it. One grain call per unit: units are not coalesced.
    /// </summary>
    public async Task<IReadOnlyList<CacheReply>> ExecuteAtomicAsync(string[][] commands, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(commands);
        if (commands.Length == 0 || commands.Length > Limits.MaxBatchSize || commands.Any(c => c is null || c.Length == 0 || c.Any(a => a is null)))
        {
            throw new InvalidRequestException(nameof(commands), $"must hold 1 to {Limits.MaxBatchSize} non-empty commands");
        }

        foreach (var command in commands)
        {
            foreach (var argument in command)
            {
                Guard.Storable(argument, nameof(commands));
            }
        }

        var keys = commands.SelectMany(c => CacheCommandTable.Resolve(c) is { IsAllShards: false, FirstKey: > 0 } info ? info.KeyIndexes(c).Select(i => c[i]) : []).ToArray();
        if (keys.Length == 0)
        {
            throw new InvalidRequestException(nameof(commands), "must name at least one key");
        }

        MaybeRefreshInBackground();
        for (var attempt = 0; ; attempt++)
        {
            var routing = Volatile.Read(ref _routing);
            var shard = routing.ShardOf(keys[0]);
            if (keys.Any(k => routing.ShardOf(k) != shard))
            {
                throw new InvalidRequestException(nameof(commands), "must name keys of one shard");
            }

            var replies = (await _bound.On(routing.Shards[shard].ExecuteAsync(commands.AsImmutable(), routing.Definition.Version), cancellationToken)).Value;
            if (!replies.Any(r => r.IsMoved))
            {
                return replies;
            }

            await AfterMovedAsync(attempt, cancellationToken);
        }
    }

    /// <summary>GET: the value, or null when absent.</summary>
    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken = default) => Unwrap(await ExecuteAsync(["GET", key], cancellationToken)).Text;

    /// <summary>SET with an optional TTL.</summary>
    public async Task SetAsync(string key, string value, TimeSpan? ttl = null, CancellationToken cancellationToken = default) =>
        Unwrap(await ExecuteAsync(ttl is { } t ? ["SET", key, value, "PX", ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)] : ["SET", key, value], cancellationToken));

    /// <summary>
    /// GET of a value as bytes (<see cref="CacheBytes"/>): the bytes a RESP or Memcached client stored, or the UTF-8 of
    /// text; null when absent.
    /// </summary>
    public async Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken = default) =>
        await GetAsync(key, cancellationToken) is { } text ? CacheBytes.GetBytes(text) : null;

    /// <summary>SET of any bytes with an optional TTL, stored as RESP and Memcached clients store them (<see cref="CacheBytes"/>).</summary>
    public Task SetBytesAsync(string key, ReadOnlyMemory<byte> value, TimeSpan? ttl = null, CancellationToken cancellationToken = default) =>
        SetAsync(key, CacheBytes.FromBytes(value.Span), ttl, cancellationToken);

    /// <summary>DEL: true when the key existed.</summary>
    public async Task<bool> DeleteAsync(string key, CancellationToken cancellationToken = default) => Unwrap(await ExecuteAsync(["DEL", key], cancellationToken)).Integer == 1;

    /// <summary>MOVED replies received (a shard handed its keys over to a newer ring) and retried on the refreshed ring.</summary>
    public long MovedReplies => Interlocked.Read(ref _movedReplies);

    /// <summary>Loads made by <see cref="GetOrLoadAsync"/> (after single-flight collapsing).</summary>
    public long BackingLoads => Interlocked.Read(ref _backingLoads);

    /// <summary>
    /// Cache-aside read with single-flight: returns the cached value, or on a miss loads it once
    /// for all concurrent callers of this client (others for the same key await that load),
    /// stores it with <paramref name="ttl"/> and returns it. A null from the loader is not cached.
    /// Cancelling <paramref name="cancellationToken"/> stops this caller's wait; a load already shared
    /// with other callers goes on for them.
    /// </summary>
    public async Task<string?> GetOrLoadAsync(string key, Func<string, Task<string?>> load, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(load);
        var cached = Unwrap(await ExecuteAsync(["GET", key], cancellationToken));
        if (!cached.IsNil)
        {
            return cached.Text;
        }

        return await _loads.RunAsync(key, async k =>
        {
            // A load that finished just before this one started may already have filled the key.
            var again = Unwrap(await ExecuteAsync(["GET", k]));
            if (!again.IsNil)
            {
                return again.Text;
            }

            Interlocked.Increment(ref _backingLoads);
            var loaded = await load(k);
            if (loaded is not null)
            {
                await SetAsync(k, loaded, ttl);
            }

            return loaded;
        }).WaitAsync(cancellationToken);
    }

    /// <summary>Cache-aside invalidation after the backing store changed: deletes the key.</summary>
    public Task<bool> InvalidateAsync(string key, CancellationToken cancellationToken = default) => DeleteAsync(key, cancellationToken);

    /// <summary>Counters summed over every shard.</summary>
    public async Task<CacheStatistics> GetStatisticsAsync(CancellationToken cancellationToken = default)
    {
        var all = await GetShardStatisticsAsync(cancellationToken);
        return all.Aggregate(new CacheStatistics(), (sum, s) => sum.Add(s));
    }

    /// <summary>Counters per shard.</summary>
    public async Task<CacheStatistics[]> GetShardStatisticsAsync(CancellationToken cancellationToken = default)
    {
        var routing = Volatile.Read(ref _routing);
        return await _bound.On(Task.WhenAll(routing.Shards.Select(s => s.GetStatisticsAsync())), cancellationToken);
    }

    /// <summary>Re-reads the definition; rebuilds routing when the ring version changed.</summary>
    public async Task<CacheDefinition> RefreshAsync(bool force = false, CancellationToken cancellationToken = default)
    {
        await _refreshGate.WaitAsync(cancellationToken);
        try
        {
            var definition = await _bound.On(_grains.GetGrain<ICacheDefinitionGrain>(Name).GetAsync(), cancellationToken);
            if (definition.Version != Volatile.Read(ref _routing).Definition.Version || force && definition.Version != _routing.Definition.Version)
            {
                var routing = new Routing(definition, _grains, _options);
                if (_near is not null)
                {
                    lock (_subscribedActivations)
                    {
                        _subscribedActivations.Clear();
                    }

                    await SubscribeAllAsync(routing, cancellationToken);
                    _near.Clear();
                }

                Volatile.Write(ref _routing, routing);
            }

            Interlocked.Exchange(ref _nextRefreshTicks, Environment.TickCount64 + (long)_options.RingRefreshInterval.TotalMilliseconds);
            return definition;
        }
        finally
        {
            _refreshGate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _renewals;
        if (_observer is not null)
        {
            try
            {
                await _bound.On(Task.WhenAll(Volatile.Read(ref _routing).Shards.Select(s => s.UnsubscribeAsync(_observer))), CancellationToken.None);
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException)
            {
                // The shards drop subscriptions that are not renewed.
            }

            _grains.DeleteObjectReference<ICacheInvalidationObserver>(_observer);
        }

        _stopping.Dispose();
        _refreshGate.Dispose();
    }

    private static CacheReply Unwrap(CacheReply reply) =>
        reply.IsError ? throw new CacheCommandException(reply.Text!) : reply;

    private void MaybeRefreshInBackground()
    {
        var next = Interlocked.Read(ref _nextRefreshTicks);
        if (Environment.TickCount64 < next || Interlocked.CompareExchange(ref _nextRefreshTicks, long.MaxValue, next) != next)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await RefreshAsync();
            }
            catch (Exception)
            {
                // Try again at the next interval; routing keeps the last known ring.
                Interlocked.Exchange(ref _nextRefreshTicks, Environment.TickCount64 + (long)_options.RingRefreshInterval.TotalMilliseconds);
            }
        });
    }

    private static Task<CacheReply> RouteAsync(Routing routing, string[] command)
    {
        if (CacheCommandTable.Resolve(command) is not { } info)
        {
            // The shard gives the exact Redis error text.
            return routing.SendAsync(0, command);
        }

        if (info.IsAllShards)
        {
            return FanOutAsync(routing, info, command);
        }

        if (info.FirstKey <= 0 || info.FirstKey >= command.Length)
        {
            return routing.SendAsync(0, command);
        }

        if (info.LastKey == info.FirstKey)
        {
            return routing.SendAsync(routing.ShardOf(command[info.FirstKey]), command);
        }

        return MultiKeyAsync(routing, info, command);
    }

    private static async Task<CacheReply> MultiKeyAsync(Routing routing, CacheCommandInfo info, string[] command)
    {
        if (info.Step == 2 && command.Length % 2 == 0)
        {
            return await routing.SendAsync(0, command);
        }

        var keyIndexes = info.KeyIndexes(command).ToArray();
        var byShard = keyIndexes.GroupBy(i => routing.ShardOf(command[i])).ToArray();
        if (byShard.Length <= 1)
        {
            // No key (a numkeys argument that names none): any shard gives Redis's error text.
            return await routing.SendAsync(byShard.Length == 0 ? 0 : byShard[0].Key, command);
        }

        if (info.IsSameShard)
        {
            return CacheReply.Error(RedisText.CrossSlot);
        }

        var parts = byShard.Select(group =>
        {
            var sub = new List<string> { command[0] };
            foreach (var i in group)
            {
                for (var j = 0; j < info.Step; j++)
                {
                    sub.Add(command[i + j]);
                }
            }

            return (Indexes: group.ToArray(), Reply: routing.SendAsync(group.Key, [.. sub]));
        }).ToArray();
        await Task.WhenAll(parts.Select(p => p.Reply));
        if (parts.Select(p => p.Reply.Result).FirstOrDefault(r => r.IsError) is { } error)
        {
            return error;
        }

        switch (info.Name)
        {
            case "MGET":
                var values = new CacheReply[command.Length - 1];
                foreach (var (indexes, reply) in parts)
                {
                    for (var k = 0; k < indexes.Length; k++)
                    {
                        values[indexes[k] - 1] = reply.Result.Items![k];
                    }
                }

                return CacheReply.Array(values);
            case "MSET":
                return CacheReply.Ok;
            default:
                return CacheReply.Int(parts.Sum(p => p.Reply.Result.Integer));
        }
    }

    private static async Task<CacheReply> FanOutAsync(Routing routing, CacheCommandInfo info, string[] command)
    {
        if (info.Name == "SCAN")
        {
            return await ScanAsync(routing, command);
        }

        var replies = await Task.WhenAll(Enumerable.Range(0, routing.Batchers.Length).Select(i => routing.SendAsync(i, command)));
        if (replies.FirstOrDefault(r => r.IsError) is { } error)
        {
            return error;
        }

        return info.Name switch
        {
            "KEYS" => CacheReply.Array([.. replies.SelectMany(r => r.Items!)]),
            "DBSIZE" => CacheReply.Int(replies.Sum(r => r.Integer)),
            _ => CacheReply.Ok,
        };
    }

    /// <summary>SCAN over all shards: the cursor is (shard &lt;&lt; 48) | position inside the shard.</summary>
    private static async Task<CacheReply> ScanAsync(Routing routing, string[] command)
    {
        if (!ulong.TryParse(command[1], NumberStyles.None, CultureInfo.InvariantCulture, out var cursor))
        {
            return CacheReply.Error("ERR invalid cursor");
        }

        var shard = (int)(cursor >> CacheKeyspace.ScanPositionBits);
        var position = cursor & ((1UL << CacheKeyspace.ScanPositionBits) - 1);
        if (shard >= routing.Batchers.Length)
        {
            return CacheReply.Array([CacheReply.Bulk("0"), CacheReply.EmptyArray]);
        }

        var sub = (string[])command.Clone();
        sub[1] = position.ToString(CultureInfo.InvariantCulture);
        var reply = await routing.SendAsync(shard, sub);
        if (reply.IsError)
        {
            return reply;
        }

        var next = ulong.Parse(reply.Items![0].Text!, CultureInfo.InvariantCulture);
        ulong global = next != 0
            ? ((ulong)shard << CacheKeyspace.ScanPositionBits) | next
            : shard + 1 < routing.Batchers.Length ? (ulong)(shard + 1) << CacheKeyspace.ScanPositionBits : 0;
        return CacheReply.Array([CacheReply.Bulk(global.ToString(CultureInfo.InvariantCulture)), reply.Items[1]]);
    }

    private sealed class Routing
    {
        private readonly CacheShardMap _map;

        private readonly ILocalCacheShards? _local;
        private long _localCommands;

        public Routing(CacheDefinition definition, IGrainFactory grains, CacheClientOptions options)
        {
            Definition = definition;
            _local = options.LocalShards;
            _map = definition.BuildMap();
            Shards = [.. Enumerable.Range(0, definition.Shards).Select(i => grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(definition.Name, i)))];
            Batchers = [.. Shards.Select(s => NewBatcher(s, definition.Version, options))];
        }

        public CacheDefinition Definition { get; }

        public ICacheShardGrain[] Shards { get; }

        /// <summary>
        /// One batcher per shard. An item is one caller's ordered group of commands (one command, or a
        /// connection's pipelined commands for that shard); a grain call carries several callers' groups,
        /// each kept contiguous and in order, so a pipeline shares grain calls with every other caller.
        /// </summary>
        public CallBatcher<string[][], ArraySegment<CacheReply>>[] Batchers { get; }

        public int ShardOf(string key) => _map.ShardOf(key);

        /// <summary>One command through its shard's batcher.</summary>
        public async Task<CacheReply> SendAsync(int shard, string[] command) => (await RunAsync(shard, [command]))[0];

        /// <summary>Commands run on a shard of this silo without a grain call.</summary>
        public long LocalCommands => Interlocked.Read(ref _localCommands);

        /// <summary>
        /// One caller's ordered group of commands for <paramref name="shard"/>: run at once when the shard
        /// is active in this silo and takes direct commands, else through the shard's batcher.
        /// </summary>
        public Task<ArraySegment<CacheReply>> RunAsync(int shard, string[][] group)
        {
            if (_local is not null)
            {
                var replies = new CacheReply[group.Length];
                if (TryRunLocal(shard, group, replies))
                {
                    return Task.FromResult(new ArraySegment<CacheReply>(replies));
                }
            }

            return Batchers[shard].EnqueueAsync(group);
        }

        /// <summary>Whether this client may find shards that take direct commands.</summary>
        public bool HasLocalShards => _local is not null;

        /// <summary>Runs <paramref name="group"/> at once on <paramref name="shard"/> if it takes direct commands here, its replies in <paramref name="replies"/>; false (nothing ran) otherwise.</summary>
        public bool TryRunLocal(int shard, ReadOnlySpan<string[]> group, Span<CacheReply> replies)
        {
            if (_local is null || !_local.TryExecute(Definition.Name, shard, group, replies, Definition.Version))
            {
                return false;
            }

            if (!replies[0].IsMoved)
            {
                Interlocked.Add(ref _localCommands, group.Length);
            }

            return true;
        }

        private static CallBatcher<string[][], ArraySegment<CacheReply>> NewBatcher(ICacheShardGrain shard, long ringVersion, CacheClientOptions options) =>
            new(
                async groups =>
                {
                    var commands = groups.Length == 1 ? groups[0] : Flatten(groups);
                    var replies = (await new CallBound(options.CallTimeout, options.TimeProvider).On(shard.ExecuteAsync(commands.AsImmutable(), ringVersion), CancellationToken.None)).Value;
                    if (replies.Length != commands.Length)
                    {
                        throw new InvalidOperationException($"{commands.Length} commands got {replies.Length} replies");
                    }

                    var answers = new ArraySegment<CacheReply>[groups.Length];
                    var offset = 0;
                    for (var i = 0; i < groups.Length; i++)
                    {
                        answers[i] = new ArraySegment<CacheReply>(replies, offset, groups[i].Length);
                        offset += groups[i].Length;
                    }

                    return answers;
                },
                options.MaxInFlightPerShard,
                options.MaxBatchSize,
                group => group.Length == 1 ? WireBytes(group[0]) : group.Sum(WireBytes),
                CallBatcher<string[][], ArraySegment<CacheReply>>.RequestBudget,
                group => group.Length);

        private static string[][] Flatten(string[][][] groups)
        {
            var count = 0;
            foreach (var group in groups)
            {
                count += group.Length;
            }

            var commands = new string[count][];
            var offset = 0;
            foreach (var group in groups)
            {
                group.CopyTo(commands, offset);
                offset += group.Length;
            }

            return commands;
        }

        /// <summary>An upper bound of a command's serialised size: at most 3 UTF-8 bytes per character, plus a length per argument.</summary>
        internal static long WireBytes(string[] command)
        {
            long bytes = 0;
            foreach (var arg in command)
            {
                bytes += (3L * (arg?.Length ?? 0)) + 8;
            }

            return bytes;
        }
    }
}

/// <summary>
/// A cache command answered with an error reply (its text is Redis's, e.g. <c>WRONGTYPE ...</c>). A
/// typed error like every other: <see cref="GranaryException.Code"/> is <c>INVALID_ARGUMENT</c> when
/// the reply refuses the command's arguments (a limit, a syntax or arity error:
/// <see cref="RedisText.IsArgumentError"/>), else <see cref="CommandFailed"/>.
/// </summary>
public sealed class CacheCommandException : GranaryException
{
    /// <summary>The code of an error reply that is not about the arguments (wrong type, out of memory, ...).</summary>
    public const string CommandFailed = "CACHE_COMMAND_FAILED";

    /// <summary>Creates the exception for an error reply's text.</summary>
    public CacheCommandException(string message)
        : base(RedisText.IsArgumentError(message) ? ErrorCodes.InvalidArgument : CommandFailed, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CacheCommandException()
        : this("cache command failed")
    {
    }

    /// <summary>Creates the exception.</summary>
    public CacheCommandException(string message, Exception inner)
        : this(message + ": " + inner?.Message)
    {
    }
}
