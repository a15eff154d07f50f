using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The scripts check every environment value as text before using it: bash runs a command found in
/// an array subscript inside arithmetic, and a value pasted into <c>pg_ctl -o</c> becomes
/// PostgreSQL options.
/// </summary>
public sealed class ScriptInputTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("GRANARY_SHARDS", "a[$(touch {marker})]")]
    [InlineData("GRANARY_SHARDS", "0")]
    [InlineData("GRANARY_SHARDS", "65")]
    [InlineData("GRANARY_CONFIGURATION", "Release/../../{marker}")]
    [InlineData("PG_FSYNC", "on -c log_statement=all")]
    [InlineData("GRANARY_NO_BUILD", "yes")]
    [InlineData("GRANARY_SERVERS_TLS", "yes")]
    public async Task Cluster_script_refuses_a_bad_environment_value_before_using_it(string name, string value)
    {
        var marker = Path.Combine(Path.GetTempPath(), "granary-script-input-" + Guid.NewGuid().ToString("N"));
        var result = await ChildProcess.RunAsync(
            "bash",
            [Path.Combine(RepositoryPaths.Root, "scripts", "cluster.sh"), "status"],
            Timeout,
            CancellationToken.None,
            environment: new Dictionary<string, string> { [name] = value.Replace("{marker}", marker, StringComparison.Ordinal) });

        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}; output: {result.Output}");
        Assert.Contains(name, result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(marker), "the value's command ran");
    }

    [Theory]
    [InlineData("off -c shared_buffers=1GB", "60")]
    [InlineData("on", "1[$(touch {marker})]")]
    public async Task Server_library_refuses_a_bad_environment_value_before_starting_anything(string fsync, string timeout)
    {
        var marker = Path.Combine(Path.GetTempPath(), "granary-script-input-" + Guid.NewGuid().ToString("N"));
        var dir = Path.Combine(Path.GetTempPath(), "granary-script-input-pg-" + Guid.NewGuid().ToString("N"));
        var result = await ChildProcess.RunAsync(
            "bash",
            ["-c", $"source '{Path.Combine(RepositoryPaths.Root, "scripts", "lib", "servers.sh")}' && start_postgres '{dir}' 5999"],
            Timeout,
            CancellationToken.None,
            environment: new Dictionary<string, string> { ["PG_FSYNC"] = fsync, ["SERVERS_START_TIMEOUT"] = timeout.Replace("{marker}", marker, StringComparison.Ordinal) });

        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}; output: {result.Output}");
        Assert.False(Directory.Exists(dir), "start_postgres created its directory before checking its input");
        Assert.False(File.Exists(marker), "the value's command ran");
    }
}
