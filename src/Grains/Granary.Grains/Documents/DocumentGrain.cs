using Granary.Errors;
using Orleans.Storage;

namespace Granary.Documents;

/// <summary>Implements <see cref="IDocumentGrain"/> over one persisted state row.</summary>
[GrainType("granary.documents.document")]
[KeyIsName("key")]
public sealed class DocumentGrain(
    [PersistentState("document", GranaryStorage.Default)] IPersistentState<DocumentState> state,
    TimeProvider time) : Grain, IDocumentGrain
{
    /// <inheritdoc/>
    public Task<DocumentSnapshot> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc/>
    public async Task<DocumentSnapshot> PutAsync(string value, long? expectedVersion = null)
    {
        Guard.Value(value, nameof(value));
        if (expectedVersion is { } expected)
        {
            Guard.InRange(expected, nameof(expectedVersion), 0, long.MaxValue);
            if (expected != state.State.Version)
            {
                throw new VersionConflictException(
                    $"document '{this.GetPrimaryKeyString()}' is at version {state.State.Version}, not {expected}",
                    expected,
                    state.State.Version);
            }
        }

        var previous = (state.State.Value, state.State.Version, state.State.UpdatedAt);
        state.State.Value = value;
        state.State.Version++;
        state.State.UpdatedAt = time.GetUtcNow();
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // A failed write must not leave the activation believing something that is not stored.
            (state.State.Value, state.State.Version, state.State.UpdatedAt) = previous;
            if (ex is InconsistentStateException)
            {
                // Another activation wrote first (possible briefly during membership changes):
                // this one is stale, so let the next call reactivate from storage.
                DeactivateOnIdle();
            }

            throw;
        }

        return Snapshot();
    }

    private DocumentSnapshot Snapshot() =>
        new(this.GetPrimaryKeyString(), state.State.Value, state.State.Version, state.State.UpdatedAt, RuntimeIdentity);
}
