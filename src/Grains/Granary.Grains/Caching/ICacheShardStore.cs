namespace Granary.Caching;

/// <summary>
/// Durable rows of persistent cache shards (write-through and snapshot caches): one row per key,
/// keyed by (cache, key) and tagged with the shard that owns it, plus one head row per shard holding
/// its fencing epoch. A write touches only the rows of the keys it changes, so its cost does not grow
/// with the shard's size; a reshard moves a key by re-tagging its row.
/// </summary>
public interface ICacheShardStore
{
    /// <summary>
    /// Takes ownership of a shard (bumps its epoch, fencing any older activation) and reads the rows
    /// tagged with it whose TTL has not passed at <paramref name="nowUnixMilliseconds"/>.
    /// </summary>
    Task<CacheShardSnapshot> OpenAsync(string cache, int shard, long nowUnixMilliseconds, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically, if <paramref name="epoch"/> is still the shard's epoch (else throws
    /// <see cref="CacheShardFencedException"/>): with <paramref name="clear"/> deletes every row of the
    /// shard, deletes the rows of <paramref name="deletes"/> the shard still owns, and upserts
    /// <paramref name="upserts"/> tagged with this shard.
    /// </summary>
    Task WriteAsync(string cache, int shard, long epoch, bool clear, IReadOnlyList<CacheEntryData> upserts, IReadOnlyList<string> deletes, CancellationToken cancellationToken);
}

/// <summary>What <see cref="ICacheShardStore.OpenAsync"/> read.</summary>
public sealed record CacheShardSnapshot(long Epoch, IReadOnlyList<CacheEntryData> Entries);

/// <summary>Another activation of the shard opened it since: this one must stop writing.</summary>
public sealed class CacheShardFencedException : Exception
{
    /// <summary>Creates the error.</summary>
    public CacheShardFencedException(string cache, int shard, long epoch)
        : base(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"cache shard '{cache}/{shard}' was opened by a newer owner than epoch {epoch}"))
    {
    }

    /// <summary>Creates the error.</summary>
    public CacheShardFencedException()
        : base("cache shard fenced")
    {
    }

    /// <summary>Creates the error.</summary>
    public CacheShardFencedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// <see cref="ICacheShardStore"/> in process memory: same contract as the PostgreSQL store, lost with
/// the process. For the embedded default and in-process tests.
/// </summary>
public sealed class MemoryCacheShardStore : ICacheShardStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Cache, int Shard), long> _epochs = [];
    private readonly Dictionary<(string Cache, string Key), (int Shard, CacheEntryData Entry)> _rows = [];

    /// <summary>Storage writes made (each is one group commit).</summary>
    public long Writes { get; private set; }

    /// <inheritdoc/>
    public Task<CacheShardSnapshot> OpenAsync(string cache, int shard, long nowUnixMilliseconds, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var epoch = _epochs.GetValueOrDefault((cache, shard)) + 1;
            _epochs[(cache, shard)] = epoch;
            var rows = _rows
                .Where(r => r.Key.Cache == cache && r.Value.Shard == shard && (r.Value.Entry.ExpiresAt < 0 || r.Value.Entry.ExpiresAt > nowUnixMilliseconds))
                .Select(r => r.Value.Entry)
                .ToList();
            return Task.FromResult(new CacheShardSnapshot(epoch, rows));
        }
    }

    /// <inheritdoc/>
    public Task WriteAsync(string cache, int shard, long epoch, bool clear, IReadOnlyList<CacheEntryData> upserts, IReadOnlyList<string> deletes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upserts);
        ArgumentNullException.ThrowIfNull(deletes);
        lock (_lock)
        {
            if (_epochs.GetValueOrDefault((cache, shard)) != epoch)
            {
                throw new CacheShardFencedException(cache, shard, epoch);
            }

            if (clear)
            {
                foreach (var key in _rows.Where(r => r.Key.Cache == cache && r.Value.Shard == shard).Select(r => r.Key).ToList())
                {
                    _rows.Remove(key);
                }
            }

            foreach (var key in deletes)
            {
                if (_rows.TryGetValue((cache, key), out var row) && row.Shard == shard)
                {
                    _rows.Remove((cache, key));
                }
            }

            foreach (var entry in upserts)
            {
                _rows[(cache, entry.Key)] = (shard, entry);
            }

            Writes++;
        }

        return Task.CompletedTask;
    }
}
