using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>Registers unfinished two-phase commit transactions with the recovery registry (<see cref="TransactionRecoveryGrain"/>), which wakes their coordinator grains after a silo loss.</summary>
internal static class RecoveryRegistry
{
    /// <summary>Adds the transaction; a failure is logged only (participants still ask the coordinator when they hear nothing; the registry covers the case where none of them is active).</summary>
    public static async Task AddAsync(IGrainFactory grains, string transactionId, TransactionOptions options, TimeProvider time, ILogger logger)
    {
        try
        {
            await grains.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(transactionId)).AddAsync(transactionId).WaitAsync(options.CallTimeout, time);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            TransactionLog.LogWarningRegistryFailed(logger, transactionId, ex.Message);
        }
    }

    /// <summary>Removes the transaction without waiting (removing an absent entry is harmless; a leftover entry only costs a resume that finds it done).</summary>
    public static void Remove(IGrainFactory grains, string transactionId) =>
        _ = grains.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(transactionId)).RemoveAsync(transactionId)
            .ContinueWith(t => t.Exception, TaskScheduler.Default);
}
