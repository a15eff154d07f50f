using System.Globalization;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Scheduling;

/// <summary>
/// The task queue rules as a console user meets them: the built <c>granary</c> run as a child
/// process, embedded (each run its own in-process silo with the repository's configuration, where
/// <c>Granary:Scheduling:Queues</c> lists <c>default</c>), in a working directory of its own.
/// </summary>
public sealed class TaskQueueConsoleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_task_for_an_undeclared_queue_exits_2_with_the_typed_error_as_does_a_bad_command_line()
    {
        var undeclared = await RunAsync("task", "submit", "add", "[1, 2]", "--queue", "nobody-declared", "--embedded");
        Assert.Equal(2, undeclared.ExitCode);
        Assert.Contains("granary: NOT_FOUND: task queue 'nobody-declared' is not declared", undeclared.Output, StringComparison.Ordinal);

        var chain = await RunAsync("task", "chain", "add[1,1]", "multiply[2]", "--queue", "nobody-declared", "--embedded");
        Assert.Equal(2, chain.ExitCode);
        Assert.Contains("NOT_FOUND: task queue 'nobody-declared' is not declared", chain.Output, StringComparison.Ordinal);

        var badPartitions = await RunAsync("task", "queue", "declare", "emails", "--partitions", "0", "--embedded");
        Assert.Equal(2, badPartitions.ExitCode);

        var configured = await RunAsync("task", "queue", "remove", "default", "--embedded");
        Assert.Equal(1, configured.ExitCode);
        Assert.Contains("QUEUE_IN_USE", configured.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_configured_queue_is_listed_and_a_declared_queue_without_workers_says_so()
    {
        var list = await RunAsync("task", "queue", "list", "--embedded");
        Assert.Equal(0, list.ExitCode);
        Assert.Matches(@"(?m)^default\s+configuration\s", list.Output);

        var declared = await RunAsync("task", "queue", "declare", "emails", "--partitions", "8", "--embedded");
        Assert.Equal(0, declared.ExitCode);
        Assert.Contains("task queue emails declared: least-connections, 8 partitions, 0 worker(s)", declared.Output, StringComparison.Ordinal);
        Assert.Contains("no worker serves task queue 'emails'", declared.Output, StringComparison.Ordinal);
    }

    private async Task<CommandResult> RunAsync(params string[] arguments)
    {
        var directory = Directory.CreateTempSubdirectory("granary-queue-");
        try
        {
            var started = DateTime.UtcNow;
            var result = await ChildProcess.RunAsync("dotnet", [RepositoryPaths.ConsoleAssembly, .. arguments], RunTimeout, CancellationToken.None, workingDirectory: directory.FullName);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"granary {string.Join(' ', arguments)}: exit {result.ExitCode} in {(DateTime.UtcNow - started).TotalSeconds:F1} s"));
            output.WriteLine(result.Output);
            return result;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
