using System.Collections.Concurrent;
using System.Diagnostics;
using Granary.Caching;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Caching;

/// <summary>
/// Memory stores for the cache (rows of persistent caches, backing tables) whose writes fail on
/// demand: the next N writes (of one backing table), or every write until healed, with the exception the test chooses.
/// The silos of a <see cref="FaultyStoresClusterFixture"/> share one pair, so the test can steer the
/// stores that in-process silos use.
/// </summary>
public sealed class CacheStoreFaults
{
    private static readonly ConcurrentDictionary<string, CacheStoreFaults> Registry = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<TimeSpan>> _backingAttempts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Left, Func<Exception> Fault)> _backingFaults = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Func<Exception>? _shardFault;
    private int _shardFaultsLeft;

    private CacheStoreFaults(string id)
    {
        Id = id;
        Backing = new FaultyBackingStore(this);
        Shard = new FaultyShardStore(this);
    }

    /// <summary>The key the silos find this instance by.</summary>
    public string Id { get; }

    /// <summary>The backing store the silos use.</summary>
    public FaultyBackingStore Backing { get; }

    /// <summary>The row store of persistent caches the silos use.</summary>
    public FaultyShardStore Shard { get; }

    /// <summary>Write attempts on backing table <paramref name="table"/> so far, as times since this instance was created.</summary>
    public IReadOnlyList<TimeSpan> BackingAttempts(string table)
    {
        lock (_lock)
        {
            return [.. _backingAttempts.GetValueOrDefault(table) ?? []];
        }
    }

    /// <summary>A new instance registered under a fresh id.</summary>
    public static CacheStoreFaults Create()
    {
        var faults = new CacheStoreFaults(Guid.NewGuid().ToString("N"));
        Registry[faults.Id] = faults;
        return faults;
    }

    /// <summary>The instance registered under <paramref name="id"/>.</summary>
    public static CacheStoreFaults Get(string id) => Registry[id];

    /// <summary>The next <paramref name="count"/> writes to backing table <paramref name="table"/> (int.MaxValue: all until <see cref="Heal"/>) throw what <paramref name="fault"/> makes.</summary>
    public void FailBackingWrites(string table, int count, Func<Exception> fault)
    {
        lock (_lock)
        {
            _backingFaults[table] = (count, fault);
        }
    }

    /// <summary>The next <paramref name="count"/> row-store writes throw what <paramref name="fault"/> makes.</summary>
    public void FailShardWrites(int count, Func<Exception> fault)
    {
        lock (_lock)
        {
            _shardFault = fault;
            _shardFaultsLeft = count;
        }
    }

    /// <summary>Every write succeeds from now on.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            _backingFaults.Clear();
            _shardFaultsLeft = 0;
        }
    }

    internal void BeforeBackingWrite(string table)
    {
        Func<Exception>? fault = null;
        lock (_lock)
        {
            if (!_backingAttempts.TryGetValue(table, out var attempts))
            {
                _backingAttempts[table] = attempts = [];
            }

            attempts.Add(_clock.Elapsed);
            if (_backingFaults.TryGetValue(table, out var planned) && planned.Left > 0)
            {
                _backingFaults[table] = (planned.Left == int.MaxValue ? planned.Left : planned.Left - 1, planned.Fault);
                fault = planned.Fault;
            }
        }

        if (fault is not null)
        {
            throw fault();
        }
    }

    internal void BeforeShardWrite()
    {
        Func<Exception>? fault = null;
        lock (_lock)
        {
            if (_shardFaultsLeft > 0)
            {
                _shardFaultsLeft -= _shardFaultsLeft == int.MaxValue ? 0 : 1;
                fault = _shardFault;
            }
        }

        if (fault is not null)
        {
            throw fault();
        }
    }
}

/// <summary>A memory backing table whose writes fail when <see cref="CacheStoreFaults"/> says so.</summary>
public sealed class FaultyBackingStore(CacheStoreFaults faults) : ICacheBackingStore
{
    private readonly MemoryCacheBackingStore _inner = new();

    /// <inheritdoc/>
    public string Description => "faulty in-memory table";

    /// <inheritdoc/>
    public Task<BackingRecord?> LoadAsync(string table, string key, CancellationToken cancellationToken) => _inner.LoadAsync(table, key, cancellationToken);

    /// <inheritdoc/>
    public Task<BackingWriteResult> WriteAsync(string table, string key, string? value, long version, CancellationToken cancellationToken)
    {
        faults.BeforeBackingWrite(table);
        return _inner.WriteAsync(table, key, value, version, cancellationToken);
    }
}

/// <summary>A memory row store whose writes fail when <see cref="CacheStoreFaults"/> says so.</summary>
public sealed class FaultyShardStore(CacheStoreFaults faults) : ICacheShardStore
{
    private readonly MemoryCacheShardStore _inner = new();

    /// <inheritdoc/>
    public Task<CacheShardSnapshot> OpenAsync(string cache, int shard, long nowUnixMilliseconds, CancellationToken cancellationToken) =>
        _inner.OpenAsync(cache, shard, nowUnixMilliseconds, cancellationToken);

    /// <inheritdoc/>
    public Task WriteAsync(string cache, int shard, long epoch, bool clear, IReadOnlyList<CacheEntryData> upserts, IReadOnlyList<string> deletes, CancellationToken cancellationToken)
    {
        faults.BeforeShardWrite();
        return _inner.WriteAsync(cache, shard, epoch, clear, upserts, deletes, cancellationToken);
    }
}

/// <summary>
/// Three in-process silos (memory storage) whose caches use the stores of one <see cref="CacheStoreFaults"/>,
/// with a small write-behind queue (20 rows per shard), backoff capped at 2 s and a 1 s drain on deactivation.
/// </summary>
public sealed class FaultyStoresClusterFixture : GranaryTestClusterFixture
{
    /// <summary>Rows a shard's write-behind queue holds.</summary>
    public const int MaxPendingRows = 20;

    /// <summary>The stores' fault switches.</summary>
    public CacheStoreFaults Faults { get; } = CacheStoreFaults.Create();

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Caching:WriteBehindMaxPendingRows"] = MaxPendingRows.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Properties["Granary:Caching:WriteBehindMaxRetryDelay"] = "00:00:02";
        builder.Properties["Granary:Caching:WriteBehindDrainTimeout"] = "00:00:01";
        builder.Properties["Test:CacheStoreFaults"] = Faults.Id;
        builder.AddSiloBuilderConfigurator<FaultyStoresConfigurator>();
        return Task.CompletedTask;
    }

    /// <summary>Registers the faulty stores over the ones Granary's caching registers with TryAdd.</summary>
    public sealed class FaultyStoresConfigurator : ISiloConfigurator
    {
        /// <inheritdoc/>
        public void Configure(ISiloBuilder siloBuilder)
        {
            ArgumentNullException.ThrowIfNull(siloBuilder);
            var faults = CacheStoreFaults.Get(siloBuilder.Configuration["Test:CacheStoreFaults"]!);
            siloBuilder.Services.AddSingleton<ICacheBackingStore>(faults.Backing);
            siloBuilder.Services.AddSingleton<ICacheShardStore>(faults.Shard);
        }
    }
}
