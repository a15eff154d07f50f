using Granary.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>A recovery bucket that holds an entry is re-activated after silo loss by its reminder, not by a per-silo keeper.</summary>
[Collection(TransactionsClusterCollection.Name)]
public sealed class RecoveryWakeReminderTests(TransactionsClusterFixture fixture)
{
    [Fact]
    public async Task A_bucket_given_an_entry_has_one_wake_reminder_at_its_scan_pace_or_the_reminder_floor()
    {
        var transactionId = "wake-" + Guid.NewGuid().ToString("N");
        var bucket = fixture.SiloGrains.GetGrain<ITransactionRecoveryGrain>(TransactionRecovery.BucketOf(transactionId));
        var services = ((InProcessSiloHandle)fixture.Cluster.Silos[0]).SiloHost.Services;
        var floor = services.GetRequiredService<IOptions<ReminderOptions>>().Value.MinimumReminderPeriod;
        var scan = services.GetRequiredService<IOptions<TransactionOptions>>().Value.RecoveryScanInterval;

        await bucket.AddAsync(transactionId);
        await bucket.AddAsync(transactionId + "-2");
        var rows = await services.GetRequiredService<IReminderTable>().ReadRows(bucket.GetGrainId());
        await bucket.RemoveAsync(transactionId);
        await bucket.RemoveAsync(transactionId + "-2");

        var wake = Assert.Single(rows.Reminders, r => r.ReminderName == TransactionRecoveryGrain.WakeReminder);
        Assert.Equal(scan > floor ? scan : floor, wake.Period);
    }
}
