using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// The console shows the silos' RESP endpoints: <c>cluster status</c> lists each silo's endpoint from the
/// endpoint directory, and a scenario run ends with a <c>redis-cli</c> line only when an endpoint
/// answered <c>PING</c>. Run through the built console with an embedded silo, RESP on (port 0: a free
/// one; the Memcached endpoint too, so that both endpoints are stopped and disposed with the console's
/// silo and the exit code stays 0) or off (the quick start's default).
/// </summary>
public sealed partial class RespConsoleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);
    private static readonly Dictionary<string, string> RespOn = new() { ["Granary__Resp__Port"] = "0", ["Granary__Memcached__Port"] = "0" };

    [Fact]
    public async Task Cluster_status_shows_each_silos_resp_endpoint_and_none_when_it_is_off()
    {
        var on = await RunAsync(RespOn, "--embedded", "--json", "cluster", "status");
        Assert.Equal(0, on.ExitCode);
        var silo = Assert.Single(Silos(on.Output));
        var endpoint = silo.GetProperty("resp").GetString();
        Assert.NotNull(endpoint);
        Assert.Matches(@"^127\.0\.0\.1:[1-9][0-9]*$", endpoint);

        var off = await RunAsync(null, "--embedded", "--json", "cluster", "status");
        Assert.Equal(0, off.ExitCode);
        Assert.Equal(JsonValueKind.Null, Assert.Single(Silos(off.Output)).GetProperty("resp").ValueKind);
    }

    [Fact]
    public async Task A_scenario_run_prints_a_redis_cli_line_only_when_an_endpoint_answers()
    {
        var on = await RunAsync(RespOn, "--embedded", "scenario", "sharding");
        Assert.Equal(0, on.ExitCode);
        var line = RedisCliLine().Match(on.Output);
        Assert.True(line.Success, "no redis-cli line in:\n" + on.Output);
        Assert.True(int.Parse(line.Groups["port"].Value, CultureInfo.InvariantCulture) > 0);

        var off = await RunAsync(null, "--embedded", "scenario", "sharding");
        Assert.Equal(0, off.ExitCode);
        Assert.DoesNotContain("redis-cli", off.Output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"speaks Redis's protocol \(an endpoint answered PING just now\): redis-cli -p (?<port>[0-9]+)$", RegexOptions.Multiline)]
    private static partial Regex RedisCliLine();

    private static IEnumerable<JsonElement> Silos(string text)
    {
        using var document = JsonDocument.Parse(text[text.IndexOf('{', StringComparison.Ordinal)..]);
        return [.. document.RootElement.GetProperty("silos").EnumerateArray().Select(s => s.Clone())];
    }

    private async Task<CommandResult> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var directory = Directory.CreateTempSubdirectory("granary-resp-console-");
        try
        {
            var result = await ChildProcess.RunAsync("dotnet", [RepositoryPaths.ConsoleAssembly, .. arguments], RunTimeout, CancellationToken.None, workingDirectory: directory.FullName, environment: environment);
            output.WriteLine($"granary {string.Join(' ', arguments)}: exit {result.ExitCode}");
            output.WriteLine(result.Output);
            return result;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
