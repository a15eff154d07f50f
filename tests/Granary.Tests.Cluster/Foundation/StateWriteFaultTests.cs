using Granary.Locks;
using Granary.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// A grain whose state write fails (any exception, out-of-memory included) neither confirms
/// anything that storage lacks nor stays unusable: the caller gets an error and a retry is served
/// from what is stored (memory grain storage behind <see cref="StorageFaults"/>).
/// </summary>
[Collection(FaultInjectionCollection.Name)]
public sealed class StateWriteFaultTests(FaultInjectionClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private StorageFaults Faults => fixture.Faults;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task A_lock_whose_grant_write_throws_out_of_memory_fails_the_acquire_and_a_retry_is_granted()
    {
        var name = Unique("lf");
        var grain = fixture.Grains.GetGrain<ILockGrain>(name);
        var request = new AcquireRequest("owner-a", "request-1", TimeSpan.FromSeconds(30), TimeSpan.Zero);
        Faults.FailBefore("lock-lease", name, new OutOfMemoryException("injected"));

        var error = await Assert.ThrowsAsync<LockUnavailableException>(() => grain.AcquireAsync(request).WaitAsync(Deadline));
        output.WriteLine($"first acquire: {error.Message}");
        Assert.Equal(0, Faults.StateWritesOf("lock-lease", name));

        var granted = await RetryAsync(() => grain.AcquireAsync(request));
        Assert.NotNull(granted.Lease);
        Assert.Equal(1, Faults.StateWritesOf("lock-lease", name));
    }

    [Fact]
    public async Task A_resubmitted_task_whose_first_write_failed_is_answered_only_once_stored()
    {
        var id = Unique("tf");
        var task = fixture.Grains.GetGrain<ITaskGrain>(id);
        var submission = new TaskSubmission("add", "[1, 2]") { Delay = TimeSpan.FromHours(1) };
        Faults.FailBefore("task-record", id, new InvalidOperationException("injected"));

        await Assert.ThrowsAnyAsync<Exception>(() => task.SubmitAsync(submission).WaitAsync(Deadline));
        var info = await RetryAsync(() => task.SubmitAsync(submission));
        Assert.Equal(id, info.Id);
        Assert.Equal(1, Faults.StateWritesOf("task-record", id));
    }

    [Fact]
    public async Task A_duplicate_workflow_start_is_answered_only_after_a_write_that_holds_the_workflow()
    {
        var id = Unique("wf");
        var workflow = fixture.Grains.GetGrain<IWorkflowGrain>(id);
        var request = new WorkflowRequest(WorkflowKind.Group, [new TaskSubmission("add", "[1, 1]") { Delay = TimeSpan.FromHours(1) }], null);
        var held = Faults.Hold("task-workflow", id);

        var first = workflow.StartAsync(request);
        await held.Entered.WaitAsync(Deadline);
        var arrived = Faults.NextCall(nameof(IWorkflowGrain.StartAsync), id);
        var second = workflow.StartAsync(request);
        await arrived.WaitAsync(Deadline);
        held.Fail(new InvalidOperationException("injected"));

        await Assert.ThrowsAnyAsync<Exception>(() => first.WaitAsync(Deadline));
        await second.WaitAsync(Deadline);
        var stored = Faults.StateWritesOf("task-workflow", id);
        output.WriteLine($"workflow writes stored when the duplicate start was answered: {stored}");
        Assert.True(stored >= 1, "the duplicate start was confirmed while no write holding the workflow had succeeded");
    }

    [Fact]
    public async Task An_account_whose_write_throws_out_of_memory_reloads_and_serves_a_retry()
    {
        var key = Unique("acct");
        var account = fixture.Grains.GetGrain<IAccountGrain>(key);
        Faults.FailBefore("tx-account", key, new OutOfMemoryException("injected"));

        await Assert.ThrowsAnyAsync<Exception>(() => account.OpenAsync(100).WaitAsync(Deadline));
        var opened = await RetryAsync(() => account.OpenAsync(100));
        Assert.Equal(100, opened.Balance);
        Assert.Equal(1, Faults.StateWritesOf("tx-account", key));
    }

    private static Task<T> RetryAsync<T>(Func<Task<T>> call) => ClientRetry.UntilSuccessAsync(call, Deadline);
}
