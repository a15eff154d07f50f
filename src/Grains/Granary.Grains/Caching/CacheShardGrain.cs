using Orleans.Concurrency;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Caching;

/// <summary>
/// Implements <see cref="ICacheShardGrain"/>: a volatile keyspace (Memcached semantics: a lost
/// activation comes back empty, never stale) kept active while the silo lives, with an active
/// expiry timer.
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
[GrainType("granary.caching.cache-shard")]
public sealed partial class CacheShardGrain(IOptions<CacheShardOptions> options, TimeProvider time, ILogger<CacheShardGrain> logger) : Grain, ICacheShardGrain
{
    private CacheKeyspace _keyspace = null!;

    // Raised when this shard hands keys over during a reshard: clients still routing by an older
    // ring get MOVED and refresh, so a moved key is never read or written here again.
    private long _minimumRingVersion;

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        _keyspace = new CacheKeyspace(settings.ToKeyspaceOptions(), time);
        this.RegisterGrainTimer(
            static (grain, _) =>
            {
                grain._keyspace.ExpireCycle();
                return Task.CompletedTask;
            },
            this,
            new GrainTimerCreationOptions(settings.ActiveExpiryInterval, settings.ActiveExpiryInterval) { KeepAlive = false });
        LogActivated(logger, this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<Immutable<CacheReply[]>> ExecuteAsync(Immutable<string[][]> batch, long ringVersion)
    {
        var commands = batch.Value;
        if (commands is null || commands.Length > Limits.MaxBatchSize)
        {
            throw new InvalidRequestException(nameof(commands), $"must hold 1 to {Limits.MaxBatchSize} commands");
        }

        var replies = new CacheReply[commands.Length];
        if (ringVersion < _minimumRingVersion)
        {
            Array.Fill(replies, CacheReply.Error($"MOVED ring version {_minimumRingVersion}"));
            return Task.FromResult(replies.AsImmutable());
        }

        for (var i = 0; i < commands.Length; i++)
        {
            replies[i] = commands[i] is { Length: > 0 } command
                ? _keyspace.Execute(command)
                : CacheReply.Error("ERR empty command");
        }

        return Task.FromResult(replies.AsImmutable());
    }

    /// <inheritdoc/>
    public Task<CacheStatistics> GetStatisticsAsync() => Task.FromResult(_keyspace.Statistics);

    /// <inheritdoc/>
    public Task<CacheEntryExport[]> ExportMovedAsync(CacheDefinition target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var ring = target.BuildRing();
        _minimumRingVersion = Math.Max(_minimumRingVersion, target.Version);
        var self = this.GetPrimaryKeyString();
        var shard = self[(self.LastIndexOf('/') + 1)..];
        var moved = _keyspace.ExtractWhere(key => !string.Equals(ring.GetNode(key), shard, StringComparison.Ordinal));
        return Task.FromResult(moved.Select(e => new CacheEntryExport(e.Key, (int)e.Type, e.Items, e.ExpiresAt)).ToArray());
    }

    /// <inheritdoc/>
    public Task ImportAsync(CacheEntryExport[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _keyspace.Import(entries.Select(e => new CacheEntryData(e.Key, (CacheValueType)e.Type, e.Items, e.ExpiresAt)));
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Cache shard {Shard} activated (empty: volatile)")]
    private static partial void LogActivated(ILogger logger, string shard);
}
