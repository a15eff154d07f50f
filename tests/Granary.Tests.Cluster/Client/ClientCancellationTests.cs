using System.Diagnostics;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.DependencyInjection;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Client;

/// <summary>
/// What a caller of the typed clients gets when it gives up (its token is cancelled) or the cluster
/// does not answer (<see cref="GranaryClientOptions.CallTimeout"/>): the call ends at once with
/// <see cref="OperationCanceledException"/>, or within the timeout with <see cref="TimeoutException"/>,
/// even while the grain is stuck on a storage write (held by <see cref="StorageFaults"/>) or waits
/// for work; and nothing is lost or done twice afterwards.
/// </summary>
[Collection(FaultInjectionCollection.Name)]
public sealed class ClientCancellationTests(FaultInjectionClusterFixture fixture, ITestOutputHelper output)
{
    /// <summary>Bound on a test step that must happen; far above what it takes.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>How soon a cancelled call must end: well below any wait or response timeout in play (20 s and more).</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(3);

    /// <summary>The call timeout of the timeout tests; Orleans' own response timeout is 30 s.</summary>
    private static readonly TimeSpan ShortCallTimeout = TimeSpan.FromSeconds(1);

    private StorageFaults Faults => fixture.Faults;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task A_lock_renewal_stuck_on_storage_ends_when_its_token_is_cancelled()
    {
        var locks = new DistributedLocks(fixture.Grains, new DistributedLockOptions { AutoRenew = false });
        var name = Unique("cl");
        await using var handle = await locks.AcquireAsync(name, TimeSpan.FromSeconds(30), TimeSpan.Zero);
        var held = Faults.Hold("lock-lease", name);
        using var cancel = new CancellationTokenSource();
        try
        {
            var renewal = handle.RenewAsync(cancel.Token);
            await held.Entered.WaitAsync(Deadline);

            await AssertEndsPromptlyAsync<OperationCanceledException>(renewal, cancel);
        }
        finally
        {
            held.Release();
        }

        // The lock itself is unharmed: still held by this lease (the held write went through afterwards).
        var status = await locks.StatusAsync(name);
        Assert.Equal(handle.Lease.Token, Assert.Single(status.Holders).Token);
    }

    [Fact]
    public async Task A_cancelled_dequeue_stops_waiting_on_the_queue_grain_and_leases_nothing_afterwards()
    {
        var queues = new QueueClient(fixture.Grains);
        var queue = Unique("cq");
        await queues.CreateAsync(queue, new QueueDefinition(Partitions: 1));
        using var cancel = new CancellationTokenSource();
        var dispatched = Faults.NextCall(nameof(Granary.Queues.IQueueGrain.DequeueAsync), queue);
        var waiting = queues.DequeueAsync(queue, "gives-up", 1, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30), cancel.Token);
        await dispatched.WaitAsync(Deadline);

        await AssertEndsPromptlyAsync<OperationCanceledException>(waiting, cancel);

        // Had the abandoned long poll gone on waiting on the grain, this message would be leased to
        // it (for five minutes) and the next consumer would find nothing.
        // Message ids are unique in the collection: the shared store counts appends by id.
        var id = Unique("cancel-m");
        await queues.EnqueueAsync(queue, new QueueMessageInput([1], Id: id));
        var got = await queues.DequeueAsync(queue, "stays", 1, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
        Assert.Equal(id, Assert.Single(got).Id);
    }

    [Fact]
    public async Task A_cancelled_task_result_wait_ends_at_once_not_at_the_end_of_its_long_poll()
    {
        var tasks = new TaskClient(fixture.Grains);
        var info = await tasks.SubmitAsync(new TaskSubmission("add", "[1, 2]") { Delay = TimeSpan.FromHours(1) });
        using var cancel = new CancellationTokenSource();
        var dispatched = Faults.NextCall(nameof(ITaskGrain.WaitAsync), info.Id);
        var waiting = tasks.WaitAsync(info.Id, TimeSpan.FromMinutes(2), cancel.Token);
        await dispatched.WaitAsync(Deadline);

        await AssertEndsPromptlyAsync<OperationCanceledException>(waiting, cancel);
        Assert.False((await tasks.GetAsync(info.Id)).IsTerminal, "giving up the wait must not touch the task");
    }

    [Fact]
    public async Task A_cancelled_transfer_ends_at_once_and_running_it_again_by_id_conserves_money()
    {
        var (from, to) = (Unique("ca"), Unique("cb"));
        await fixture.Grains.GetGrain<IAccountGrain>(from).OpenAsync(100);
        await fixture.Grains.GetGrain<IAccountGrain>(to).OpenAsync(0);
        var transactions = new TransactionClient(fixture.Grains);
        var id = TransactionClient.NewId();
        var held = Faults.Hold("tx-account", from);
        using var cancel = new CancellationTokenSource();
        try
        {
            var transfer = transactions.TransferAsync(from, to, 30, id, cancellationToken: cancel.Token);
            await held.Entered.WaitAsync(Deadline);

            await AssertEndsPromptlyAsync<OperationCanceledException>(transfer, cancel);
        }
        finally
        {
            held.Release();
        }

        await AssertTransferredOnceAsync(transactions, id, from, to);
    }

    [Fact]
    public async Task A_cancelled_cache_creation_stuck_on_storage_ends_at_once()
    {
        var name = Unique("cc");
        var held = Faults.Hold("cache-definition", name);
        using var cancel = new CancellationTokenSource();
        try
        {
            var creating = CacheClient.CreateAsync(fixture.Grains, name, 1, new CacheSettings(), cancellationToken: cancel.Token);
            await held.Entered.WaitAsync(Deadline);

            await AssertEndsPromptlyAsync<OperationCanceledException>(creating, cancel);
        }
        finally
        {
            held.Release();
        }

        await using var cache = await CacheClient.CreateAsync(fixture.Grains, name, 1, new CacheSettings());
        await cache.SetAsync("k", "v");
        Assert.Equal("v", await cache.GetAsync("k"));
    }

    [Fact]
    public async Task A_queue_enqueue_stuck_on_storage_times_out_within_the_call_timeout()
    {
        var queues = new QueueClient(fixture.Grains, Short());
        var queue = Unique("tq");
        await queues.CreateAsync(queue, new QueueDefinition(Partitions: 1));
        var held = Faults.Hold(StorageFaults.QueueTarget, queue);
        var id = Unique("timeout-m"); // unique in the collection: the shared store counts appends by id
        try
        {
            await AssertTimesOutWithinAsync(queues.EnqueueAsync(queue, new QueueMessageInput([1], Id: id)), held);
        }
        finally
        {
            held.Release();
        }

        // The timed-out enqueue went through once its write was let go: retrying the id finds it.
        var retried = await queues.EnqueueAsync(queue, new QueueMessageInput([1], Id: id));
        Assert.True(retried.Duplicate, "the first write was stored: the retry must find it");
    }

    [Fact]
    public async Task A_task_submission_stuck_on_storage_times_out_within_the_call_timeout()
    {
        var tasks = new TaskClient(fixture.Grains, Short());
        var id = Unique("tt");
        var held = Faults.Hold("task-record", id);
        try
        {
            await AssertTimesOutWithinAsync(tasks.SubmitWithIdAsync(id, new TaskSubmission("add", "[1, 2]") { Delay = TimeSpan.FromHours(1) }), held);
        }
        finally
        {
            held.Release();
        }

        Assert.Equal(id, (await Eventually.SucceedsAsync("the task is readable", () => tasks.GetAsync(id), Deadline)).Id);
    }

    [Fact]
    public async Task A_transfer_stuck_on_storage_times_out_within_the_call_timeout_and_its_retry_conserves_money()
    {
        var (from, to) = (Unique("ta"), Unique("tb"));
        await fixture.Grains.GetGrain<IAccountGrain>(from).OpenAsync(100);
        await fixture.Grains.GetGrain<IAccountGrain>(to).OpenAsync(0);
        var transactions = new TransactionClient(fixture.Grains, Short());
        var id = TransactionClient.NewId();
        var held = Faults.Hold("tx-account", from);
        try
        {
            await AssertTimesOutWithinAsync(transactions.TransferAsync(from, to, 30, id), held);
        }
        finally
        {
            held.Release();
        }

        await AssertTransferredOnceAsync(new TransactionClient(fixture.Grains), id, from, to);
    }

    private static GranaryClientOptions Short() => new() { CallTimeout = ShortCallTimeout };

    private async Task AssertEndsPromptlyAsync<TException>(Task call, CancellationTokenSource cancel)
        where TException : Exception
    {
        Assert.False(call.IsCompleted, "the call must still be waiting before it is cancelled");
        var clock = Stopwatch.StartNew();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<TException>(() => call.WaitAsync(Deadline));
        output.WriteLine($"ended {clock.Elapsed.TotalMilliseconds:0} ms after the cancellation");
        Assert.True(clock.Elapsed < Promptly, $"the cancelled call ended only after {clock.Elapsed}");
    }

    private async Task AssertTimesOutWithinAsync(Task call, HeldWrite held)
    {
        var clock = Stopwatch.StartNew();
        await held.Entered.WaitAsync(Deadline);
        await Assert.ThrowsAsync<TimeoutException>(() => call.WaitAsync(Deadline));
        output.WriteLine($"timed out after {clock.Elapsed.TotalMilliseconds:0} ms (call timeout {ShortCallTimeout.TotalMilliseconds:0} ms)");
        Assert.True(clock.Elapsed < ShortCallTimeout + Promptly, $"the call timed out only after {clock.Elapsed}");
    }

    /// <summary>Running the transaction again by its id gives its one outcome: committed, 30 moved, 100 in all.</summary>
    private async Task AssertTransferredOnceAsync(TransactionClient transactions, string id, string from, string to)
    {
        var result = await Eventually.SucceedsAsync("the transaction's outcome", () => transactions.TransferAsync(from, to, 30, id), Deadline);
        Assert.Equal(TxOutcome.Committed, result.Outcome);
        await Eventually.ValueAsync(
            "30 moved once, nothing held",
            async () => (await fixture.Grains.GetGrain<IAccountGrain>(from).GetAsync(), await fixture.Grains.GetGrain<IAccountGrain>(to).GetAsync()),
            accounts => accounts.Item1.Balance == 70 && accounts.Item2.Balance == 30 && accounts.Item1.Held == 0 && accounts.Item2.PendingCredits == 0,
            Deadline);
    }
}
