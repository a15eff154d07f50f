using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// Sagas over scripted participants: failure injected at each step; written once and run on every storage backend
/// (<see cref="SagaScenariosOnMemory"/>, <see cref="SagaScenariosOnPostgres"/>).
/// </summary>
public abstract class SagaScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private const int Steps = 3;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Runs until the saga stops (a run call returns early while backoffs are long).</summary>
    private static async Task<SagaView> UntilStoppedAsync(ISagaGrain saga, Task<SagaView> started)
    {
        var view = await started;
        return view.Status is "Running" or "Compensating"
            ? await Eventually.ValueAsync("the saga stopped", () => saga.GetAsync(), v => v.Status is not ("Running" or "Compensating"), TimeSpan.FromSeconds(90))
            : view;
    }

    private (SagaDefinition Definition, List<IScriptedParticipantGrain> Participants) Build()
    {
        var keys = Enumerable.Range(0, Steps).Select(_ => Unique("step")).ToList();
        var definition = new SagaDefinition(keys.Select((k, i) => new SagaStepDefinition($"s{i}", new ParticipantRef(ParticipantKind.Scripted, k), new ScriptedStep($"s{i}"))).ToList());
        return (definition, keys.Select(k => fixture.Grains.GetGrain<IScriptedParticipantGrain>(k)).ToList());
    }

    [Fact]
    public async Task All_steps_succeed_once_in_order()
    {
        var (definition, participants) = Build();
        var saga = fixture.Grains.GetGrain<ISagaGrain>(Unique("saga"));
        var view = await UntilStoppedAsync(saga, saga.RunAsync(definition));
        Assert.Equal("Completed", view.Status);
        for (var i = 0; i < Steps; i++)
        {
            Assert.Equal([$"action s{i}"], (await participants[i].GetAsync()).Calls);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_step_that_fails_for_good_is_compensated_with_earlier_steps_once_in_reverse(int failing)
    {
        var (definition, participants) = Build();
        await participants[failing].ScriptAsync(actionFailures: 100, compensationFailures: 0, refuse: false);
        var saga = fixture.Grains.GetGrain<ISagaGrain>(Unique("saga"));
        var view = await UntilStoppedAsync(saga, saga.RunAsync(definition));

        output.WriteLine(string.Join(" | ", view.Journal));
        Assert.Equal("Compensated", view.Status);
        Assert.Equal(failing, view.FailedStep);
        for (var i = 0; i < failing; i++)
        {
            Assert.Equal([$"action s{i}", $"compensate s{i}"], (await participants[i].GetAsync()).Calls);
        }

        // The failing step: retried 3 times (default), its compensation is an empty rollback.
        var calls = (await participants[failing].GetAsync()).Calls;
        Assert.Equal(3, calls.Count(c => c.StartsWith("action-failed", StringComparison.Ordinal)));
        Assert.Equal("compensate-noop s" + failing, calls[^1]);
        for (var i = failing + 1; i < Steps; i++)
        {
            Assert.Empty((await participants[i].GetAsync()).Calls);
        }

        // Reverse order in the journal.
        var compensations = view.Journal.Where(j => j.StartsWith("compensate", StringComparison.Ordinal) && j.EndsWith("ok", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, failing + 1).Reverse().Select(i => $"compensate {i} ok"), compensations);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_with_backoff_and_the_saga_completes()
    {
        var (definition, participants) = Build();
        await participants[1].ScriptAsync(actionFailures: 2, compensationFailures: 0, refuse: false);
        var saga = fixture.Grains.GetGrain<ISagaGrain>(Unique("saga"));
        var view = await UntilStoppedAsync(saga, saga.RunAsync(definition));
        Assert.Equal("Completed", view.Status);
        Assert.Equal(["action-failed " + view.SagaId + "/1:s1", "action-failed " + view.SagaId + "/1:s1", "action s1"], (await participants[1].GetAsync()).Calls);
    }

    [Fact]
    public async Task Compensation_failed_is_visible_and_an_operator_retry_finishes_it()
    {
        var (definition, participants) = Build();
        await participants[2].ScriptAsync(actionFailures: 100, compensationFailures: 0, refuse: false);
        await participants[0].ScriptAsync(actionFailures: 0, compensationFailures: 100, refuse: false);
        var saga = fixture.Grains.GetGrain<ISagaGrain>(Unique("saga"));
        var view = await UntilStoppedAsync(saga, saga.RunAsync(definition));
        Assert.Equal("CompensationFailed", view.Status);
        Assert.Equal(0, view.Step);
        Assert.Contains("injected compensation failure", view.LastError, StringComparison.Ordinal);
        Assert.Equal("CompensationFailed", (await saga.GetAsync()).Status);

        await participants[0].ScriptAsync(actionFailures: 0, compensationFailures: 0, refuse: false);
        var retried = await UntilStoppedAsync(saga, saga.RetryCompensationAsync());
        Assert.Equal("Compensated", retried.Status);
        Assert.Equal(1, (await participants[0].GetAsync()).Calls.Count(c => c == "compensate s0"));
        Assert.Equal(1, (await participants[1].GetAsync()).Calls.Count(c => c == "compensate s1"));

        var error = await Assert.ThrowsAsync<GranaryException>(() => saga.RetryCompensationAsync());
        Assert.Equal(TransactionErrorCodes.State, error.Code);
    }

    [Fact]
    public async Task Tcc_guards_refuse_an_action_after_its_compensation_and_absorb_duplicates()
    {
        var p = fixture.SiloGrains.GetGrain<IScriptedParticipantGrain>(Unique("tcc")); // saga steps are internal: driven from inside a silo
        Assert.False(await p.CompensateSagaActionAsync("saga-x/0:a", new ScriptedStep("a")));
        Assert.NotNull(await p.RunSagaActionAsync("saga-x/0:a", new ScriptedStep("a")));
        Assert.Null(await p.RunSagaActionAsync("saga-x/1:b", new ScriptedStep("b")));
        Assert.Null(await p.RunSagaActionAsync("saga-x/1:b", new ScriptedStep("b")));
        Assert.True(await p.CompensateSagaActionAsync("saga-x/1:b", new ScriptedStep("b")));
        Assert.False(await p.CompensateSagaActionAsync("saga-x/1:b", new ScriptedStep("b")));
        Assert.Equal(["compensate-noop a", "action b", "compensate b"], (await p.GetAsync()).Calls);
    }

    [Fact]
    public async Task A_saga_id_reused_with_another_definition_is_a_conflict()
    {
        var (definition, _) = Build();
        var (other, _) = Build();
        var saga = fixture.Grains.GetGrain<ISagaGrain>(Unique("saga"));
        await UntilStoppedAsync(saga, saga.RunAsync(definition));
        Assert.Equal("Completed", (await UntilStoppedAsync(saga, saga.RunAsync(definition))).Status);
        await Assert.ThrowsAsync<TransactionConflictException>(() => saga.RunAsync(other));
    }
}

/// <summary>The saga scenarios on memory storage.</summary>
[Collection(TransactionsClusterCollection.Name)]
public sealed class SagaScenariosOnMemory(TransactionsClusterFixture cluster, ITestOutputHelper output) : SagaScenarios(cluster, output);

/// <summary>The saga scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class SagaScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : SagaScenarios(cluster, output);
