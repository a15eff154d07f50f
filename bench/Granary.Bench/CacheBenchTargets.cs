using System.Globalization;
using Granary.Caching;
using Granary.Cli.Cli;
using Granary.Client.Caching;
using Granary.Client.Configuration;
using Granary.Server.Configuration;
using StackExchange.Redis;

namespace Granary.Bench;

/// <summary>Which operations a cache benchmark issues.</summary>
public enum CacheBenchOp
{
    /// <summary>GET of preloaded keys.</summary>
    Get,

    /// <summary>SET of a fixed-size value.</summary>
    Set,

    /// <summary>80% GET, 20% SET.</summary>
    Mix,
}

/// <summary>Shape of a cache workload shared by Granary and Redis so they do the same work.</summary>
public sealed record CacheWorkload(CacheBenchOp Op, int Keys, int ValueSize)
{
    // Distinct value strings, so that no serializer can send one string for a whole batch of SETs (Orleans'
    // reference tracking does that for repeated instances) and no shard ends up holding one shared string
    // for many keys: each write carries and stores its own copy, as an application's writes do. At most
    // 4,096 of them, and at most 64 MiB in all.
    private readonly string[] _values = Enumerable.Range(0, Math.Clamp((64 << 20) / ValueSize, 1, 4096))
        .Select(i => string.Create(ValueSize, i, static (span, seed) =>
        {
            span.Fill('x');
            var digits = seed.ToString(CultureInfo.InvariantCulture);
            digits.AsSpan(0, Math.Min(digits.Length, span.Length)).CopyTo(span);
        }))
        .ToArray();

    /// <summary>The value written by operation <paramref name="sequence"/> (or preloaded for key number <paramref name="sequence"/>): <see cref="ValueSize"/> characters.</summary>
    public string ValueFor(long sequence) => _values[sequence % _values.Length];

    /// <summary>The key of preloaded key number <paramref name="index"/>.</summary>
    public static string Key(long index) => string.Create(CultureInfo.InvariantCulture, $"cache-bench:{index}");

    /// <summary>True when this operation (by sequence number) is a write.</summary>
    public bool IsWrite(long sequence) => Op switch
    {
        CacheBenchOp.Get => false,
        CacheBenchOp.Set => true,
        _ => sequence % 5 == 0,
    };

    /// <summary>The key for an operation: a well-spread walk over the key space.</summary>
    public string KeyFor(int caller, long sequence) => Key(((caller * 7919L) + (sequence * 104_729L)) % Keys);
}

/// <summary>Granary's sharded cache through <see cref="CacheClient"/> (coalescing per shard).</summary>
public sealed class GranaryCacheBenchTarget(IGrainFactory grains, CacheWorkload workload, string deployment, int? shards, CachePersistence persistence = CachePersistence.Volatile, int? inFlight = null) : IBenchTarget
{
    private readonly CacheClientOptions _options = inFlight is { } calls ? new CacheClientOptions { MaxInFlightPerShard = calls } : new CacheClientOptions();
    private readonly string _name = persistence switch
    {
        CachePersistence.WriteThrough => "bench-write-through",
        CachePersistence.Snapshot => "bench-snapshot",
        _ => "bench",
    };


    private CacheClient? _cache;
    private long _sequence;

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => $"{(_cache?.Definition.Settings ?? CacheSettings.Default).Describe()} cache '{_cache?.Name}', {_cache?.Definition.Shards} shard grains, CacheClient coalescing ({_options.MaxInFlightPerShard} call{(_options.MaxInFlightPerShard == 1 ? "" : "s")} in flight per shard), {deployment}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        var definition = grains.GetGrain<ICacheDefinitionGrain>(_name);
        if (persistence != CachePersistence.Volatile && await definition.PeekAsync() is null)
        {
            await definition.CreateAsync(shards ?? 2, new CacheSettings(persistence));
        }

        if (shards is { } count)
        {
            await definition.ReshardAsync(count);
        }

        _cache = await CacheClient.ConnectAsync(grains, _name, _options);
        await Preload(workload, (key, value) => _cache.ExecuteAsync(["SET", key, value]));
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var key = workload.KeyFor(caller, sequence);
        var reply = workload.IsWrite(sequence) ? await _cache!.ExecuteAsync(["SET", key, workload.ValueFor(sequence)]) : await _cache!.ExecuteAsync(["GET", key]);
        if (reply.IsError || reply.IsNil)
        {
            throw new InvalidOperationException($"unexpected reply for {key}: {reply}");
        }
    }

    /// <summary>Writes every key once, 2,000 at a time.</summary>
    public static async Task Preload(CacheWorkload workload, Func<string, string, Task> set)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(set);
        for (var start = 0; start < workload.Keys; start += 2000)
        {
            var end = Math.Min(workload.Keys, start + 2000);
            await Task.WhenAll(Enumerable.Range(start, end - start).Select(i => set(CacheWorkload.Key(i), workload.ValueFor(i))));
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_cache is not null)
        {
            var (calls, commands) = _cache.BatchingCounters;
            Output.Progress(string.Create(CultureInfo.InvariantCulture, $"granary: {commands:N0} commands in {calls:N0} grain calls ({commands / Math.Max(1.0, calls):F1} per call)"));
            if (persistence != CachePersistence.Volatile)
            {
                var stats = await _cache.GetStatisticsAsync();
                Output.Progress(string.Create(CultureInfo.InvariantCulture, $"granary: {stats.KeysPersisted:N0} key rows in {stats.StorageWrites:N0} storage writes ({stats.KeysPersisted / Math.Max(1.0, stats.StorageWrites):F1} per write, since the shards activated)"));
            }

            await _cache.DisposeAsync();
        }
    }
}

/// <summary>Redis through StackExchange.Redis: one shared multiplexer, async GET/SET (pipelines concurrent callers).</summary>
public sealed class RedisCacheBenchTarget(string connectionString, CacheWorkload workload) : IBenchTarget
{
    private ConnectionMultiplexer? _redis;
    private IDatabase? _db;
    private long _sequence;
    private string _serverConfig = "?";

    /// <summary>The Redis the peer runs against.</summary>
    public string ConnectionString => connectionString;

    /// <inheritdoc/>
    public string System => "redis";

    /// <inheritdoc/>
    public string Configuration => $"StackExchange.Redis, one multiplexer, async GET/SET at {RedisSecrets.RedisForDisplay(connectionString)}; server {_serverConfig}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AllowAdmin = true;
        _redis = await ConnectionMultiplexer.ConnectAsync(options);
        _db = _redis.GetDatabase();
        try
        {
            var server = _redis.GetServer(_redis.GetEndPoints()[0]);
            var save = (await server.ConfigGetAsync("save")).FirstOrDefault().Value;
            var aof = (await server.ConfigGetAsync("appendonly")).FirstOrDefault().Value;
            _serverConfig = $"redis {server.Version}, save '{save}', appendonly {aof}";
        }
        catch (Exception ex) when (ex is RedisException or RedisCommandException)
        {
            _serverConfig = "config not readable";
        }

        await GranaryCacheBenchTarget.Preload(workload, (key, value) => _db.StringSetAsync(key, value));
    }

    /// <inheritdoc/>
    public async Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var key = workload.KeyFor(caller, sequence);
        if (workload.IsWrite(sequence))
        {
            await _db!.StringSetAsync(key, workload.ValueFor(sequence));
        }
        else if ((await _db!.StringGetAsync(key)).IsNull)
        {
            throw new InvalidOperationException($"missing {key}");
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
