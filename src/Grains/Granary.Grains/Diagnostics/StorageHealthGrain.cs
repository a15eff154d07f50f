using Granary.Errors;
using Orleans.Concurrency;

namespace Granary.Diagnostics;

/// <summary>Reaches the storage shards of this silo (registered by the storage mode that has shards).</summary>
public interface IStorageShardProbe
{
    /// <summary>The storage mode's name.</summary>
    string Mode { get; }

    /// <summary>Probes every shard, each within <paramref name="timeout"/>; never throws for a shard's failure.</summary>
    Task<IReadOnlyList<ShardHealth>> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>Answers <see cref="IStorageHealthGrain"/> from this silo's <see cref="IStorageShardProbe"/> (none: memory storage, no shards).</summary>
[StatelessWorker]
[GrainType("granary.diagnostics.storage-health")]
public sealed class StorageHealthGrain(IEnumerable<IStorageShardProbe> probes) : Grain, IStorageHealthGrain
{
    private readonly IStorageShardProbe? _probe = probes.LastOrDefault();

    /// <inheritdoc/>
    public async Task<StorageHealth> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        Guard.InRange(timeout, nameof(timeout), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(30));
        return _probe is null
            ? new StorageHealth("Memory", [])
            : new StorageHealth(_probe.Mode, await _probe.ProbeAsync(timeout, cancellationToken));
    }
}
