using System.Collections.Concurrent;
using Orleans.Serialization;
using Orleans.Storage;

namespace Granary.Cli.Scenarios.Scheduling;

/// <summary>
/// Grain storage shared by the silos of one process, standing in for the PostgreSQL shards of a
/// real cluster: state survives the loss of the silo that wrote it. States are stored serialized
/// (no object is shared between silos) and writes are ETag-checked like the real storage. Once
/// <paramref name="cutOff"/> says the silo is dead, every call fails: a killed process reaches no database.
/// </summary>
internal sealed class SharedProcessStorage(Serializer serializer, ConcurrentDictionary<(string State, GrainId Grain), (byte[] Data, string ETag)> rows, Func<bool> cutOff) : IGrainStorage
{
    /// <inheritdoc/>
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        ThrowIfCutOff();
        if (rows.TryGetValue((stateName, grainId), out var row))
        {
            grainState.State = serializer.Deserialize<T>(row.Data);
            grainState.ETag = row.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        ThrowIfCutOff();
        var data = serializer.SerializeToArray(grainState.State);
        var etag = Guid.NewGuid().ToString("N");
        var key = (stateName, grainId);
        while (true)
        {
            if (rows.TryGetValue(key, out var current))
            {
                Check(current.ETag, grainState.ETag);
                if (rows.TryUpdate(key, (data, etag), current))
                {
                    break;
                }
            }
            else
            {
                Check(null, grainState.ETag);
                if (rows.TryAdd(key, (data, etag)))
                {
                    break;
                }
            }
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        ThrowIfCutOff();
        if (rows.TryGetValue((stateName, grainId), out var current))
        {
            Check(current.ETag, grainState.ETag);
            rows.TryRemove(new KeyValuePair<(string, GrainId), (byte[], string)>((stateName, grainId), current));
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private void ThrowIfCutOff()
    {
        if (cutOff())
        {
            throw new IOException("this silo was killed: it reaches no storage");
        }
    }

    private static void Check(string? stored, string? expected)
    {
        if (!string.Equals(stored, expected, StringComparison.Ordinal))
        {
            throw new InconsistentStateException($"ETag mismatch: stored {stored ?? "none"}, expected {expected ?? "none"}", stored ?? string.Empty, expected ?? string.Empty);
        }
    }
}
