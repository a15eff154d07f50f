using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>A two-phase commit decision record as the sweep found it in storage.</summary>
/// <param name="TransactionId">The transaction (the coordinator grain's key).</param>
/// <param name="State">The record.</param>
public sealed record DecisionCandidate(string TransactionId, CoordinatorState State);

/// <summary>
/// Which old decision records may be deleted: those whose every participant answers that it holds
/// none of them open, after writing any outcome it acknowledged but had not yet written
/// (<see cref="ITransactionParticipant.OpenAmongAsync"/>). A participant that is prepared and in doubt
/// still needs the record (its inquiry would otherwise find nothing and presume abort, although the
/// decision may have been commit), so one open answer, one failed or late call or one participant that
/// cannot be named keeps the record for the next sweep. A presumed-abort tombstone lists no
/// participants and is always finished. Each participant is asked once per call of
/// <see cref="FinishedAsync"/>, about all its transactions among the candidates (in batches of
/// <see cref="Limits.MaxBatchSize"/>), a few participants at a time.
/// </summary>
public static class DecisionSweep
{
    /// <summary>Participants asked at once.</summary>
    public const int Parallelism = 16;

    /// <summary>The ids among <paramref name="candidates"/> that no participant still needs.</summary>
    public static async Task<IReadOnlySet<string>> FinishedAsync(
        IGrainFactory grains,
        IReadOnlyList<DecisionCandidate> candidates,
        TimeSpan callTimeout,
        TimeProvider time,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(candidates);
        var byParticipant = new Dictionary<ParticipantRef, List<string>>();
        foreach (var candidate in candidates)
        {
            foreach (var participant in candidate.State.Participants)
            {
                if (!byParticipant.TryGetValue(participant, out var ids))
                {
                    byParticipant[participant] = ids = [];
                }

                ids.Add(candidate.TransactionId);
            }
        }

        var needed = new HashSet<string>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(
            byParticipant,
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (entry, token) =>
            {
                foreach (var batch in entry.Value.Chunk(Limits.MaxBatchSize))
                {
                    IReadOnlyList<string> open;
                    try
                    {
                        open = await Participants.Transactional(grains, entry.Key).OpenAmongAsync(batch).WaitAsync(callTimeout, time, token);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException && !token.IsCancellationRequested)
                    {
                        // Unknown: keep every record it was asked about.
                        TransactionLog.LogDebugSweepAskFailed(logger, entry.Key.ToString(), batch.Length, ex.Message);
                        open = batch;
                    }

                    lock (needed)
                    {
                        needed.UnionWith(open);
                    }
                }
            });

        var finished = new HashSet<string>(StringComparer.Ordinal);
        foreach (var candidate in candidates)
        {
            if (!needed.Contains(candidate.TransactionId))
            {
                finished.Add(candidate.TransactionId);
            }
        }

        return finished;
    }
}
