using Granary.Errors;

namespace Granary.Locks;

/// <summary>Implements <see cref="IFencedResourceGrain"/>: one persisted value guarded by the highest token seen.</summary>
[GrainType("granary.locks.fenced-resource")]
[KeyIsName("name")]
public sealed class FencedResourceGrain(
    [PersistentState("lock-fenced-resource", GranaryStorage.Default)] IPersistentState<FencedResourceState> state) : Grain, IFencedResourceGrain
{
    private long _rejectedSinceWrite;

    /// <inheritdoc/>
    public Task<FencedResourceSnapshot> ReadAsync()
    {
        Guard.Name(this.GetPrimaryKeyString(), "name");
        return Task.FromResult(Snapshot());
    }

    /// <inheritdoc/>
    public async Task<FencedResourceSnapshot> WriteAsync(long token, string value)
    {
        var key = Guard.Name(this.GetPrimaryKeyString(), "name");
        Guard.InRange(token, nameof(token), 1, long.MaxValue);
        Guard.Value(value, nameof(value));
        if (token < state.State.HighestToken)
        {
            _rejectedSinceWrite++;
            throw new StaleTokenException(key, token, state.State.HighestToken);
        }

        var previous = (state.State.Value, state.State.HighestToken, state.State.Writes, state.State.Rejected);
        state.State.Value = value;
        state.State.HighestToken = token;
        state.State.Writes++;
        state.State.Rejected += _rejectedSinceWrite;
        try
        {
            await state.WriteStateAsync();
            _rejectedSinceWrite = 0;
        }
        catch
        {
            (state.State.Value, state.State.HighestToken, state.State.Writes, state.State.Rejected) = previous;
            throw;
        }

        return Snapshot();
    }

    private FencedResourceSnapshot Snapshot() =>
        new(this.GetPrimaryKeyString(), state.State.Value, state.State.HighestToken, state.State.Writes, state.State.Rejected + _rejectedSinceWrite);
}
