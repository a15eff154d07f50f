using System.Text.Json;
using Granary.Scheduling;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Scheduling;

public sealed class HandlerTests
{
    private readonly TaskHandlerRegistry _registry = TaskHandlerRegistry.CreateDefault(new GroceryHandlerOptions());

    [Theory]
    [InlineData("add", "[2, 3]", "5")]
    [InlineData("multiply", "[4, 2.5]", "10.0")]
    [InlineData("xsum", "[[1, 2, 3, 4]]", "10")]
    public async Task Seed_tasks_compute(string type, string args, string expected)
    {
        var result = await HandlerRunner.RunAsync(_registry.Get(type), Run(args, TimeProvider.System), TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(RunOutcome.Succeeded, result.Outcome);
        Assert.Equal(expected, result.Payload);
    }

    [Theory]
    [InlineData("nope", "[]", "type")]
    [InlineData("add", "[1]", "args")]
    [InlineData("add", "[1, \"x\"]", "args")]
    [InlineData("add", "{\"x\": 1}", "args")]
    [InlineData("add", "[1, 2", "args")]
    [InlineData("xsum", "[[1, null]]", "args")]
    [InlineData("pick-order", "[\"\", 3]", "args")]
    public void Bad_requests_are_rejected_with_the_parameter_named(string type, string args, string parameter)
    {
        Assert.Equal(parameter, Assert.Throws<TaskValidationException>(() => _registry.Validate(type, args)).Parameter);
    }

    [Fact]
    public void Chain_prepends_the_previous_result()
    {
        Assert.Equal("[4,8]", TaskHandlerRegistry.Prepend("4", "[8]"));
        Assert.Equal("[[1,2]]", TaskHandlerRegistry.Prepend("[1,2]", "[]"));
    }

    [Fact]
    public async Task Time_limit_stops_a_run_that_takes_too_long()
    {
        var time = new FakeTimeProvider();
        var running = HandlerRunner.RunAsync(_registry.Get("sleep"), Run("[10000]", time), TimeSpan.FromMilliseconds(500), CancellationToken.None);
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(running.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(2));
        var result = await running.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(RunOutcome.TimedOut, result.Outcome);
    }

    [Fact]
    public async Task A_handler_that_ignores_cancellation_is_abandoned_at_the_limit()
    {
        var time = new FakeTimeProvider();
        var never = new TaskCompletionSource<string>();
        var stubborn = new StubHandler(_ => never.Task);
        var running = HandlerRunner.RunAsync(stubborn, Run("[]", time), TimeSpan.FromSeconds(1), CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(RunOutcome.TimedOut, (await running.WaitAsync(TimeSpan.FromSeconds(5))).Outcome);
    }

    [Fact]
    public async Task Grocery_failure_rate_one_always_fails_retryably_and_zero_never()
    {
        var failing = TaskHandlerRegistry.CreateDefault(new GroceryHandlerOptions { PickFailureRate = 1, PickDuration = TimeSpan.Zero });
        var fine = TaskHandlerRegistry.CreateDefault(new GroceryHandlerOptions { PickDuration = TimeSpan.Zero });
        var bad = await HandlerRunner.RunAsync(failing.Get("pick-order"), Run("[\"o-1\", 3]", TimeProvider.System), TimeSpan.FromSeconds(5), CancellationToken.None);
        var good = await HandlerRunner.RunAsync(fine.Get("pick-order"), Run("[\"o-1\", 3]", TimeProvider.System), TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(RunOutcome.Failed, bad.Outcome);
        Assert.Equal(RunOutcome.Succeeded, good.Outcome);
        var rider = await HandlerRunner.RunAsync(fine.Get("assign-rider"), Run("[" + good.Payload + "]", TimeProvider.System), TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Contains("rider-", rider.Payload, StringComparison.Ordinal);
    }

    private static TaskRunContext Run(string args, TimeProvider time)
    {
        using var doc = JsonDocument.Parse(args);
        return new TaskRunContext("t", doc.RootElement.Clone(), 1, time, new Random(3));
    }

    private sealed class StubHandler(Func<CancellationToken, Task<string>> run) : ITaskHandler
    {
        public string Name => "stub";

        public string Description => "stub";

        public void Validate(JsonElement args)
        {
        }

        public Task<string> ExecuteAsync(TaskRunContext run1, CancellationToken cancellationToken) => run(cancellationToken);
    }
}
