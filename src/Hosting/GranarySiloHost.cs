using Granary.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server;

/// <summary>
/// A Granary silo process: configuration from appsettings.json, .local/cluster.json, GRANARY_CONFIG,
/// GRANARY_SECRETS_FILE, environment variables and <c>--Section:Key=value</c> arguments, console
/// logging, and a run until the process is told to stop.
/// </summary>
/// <example><code>
/// return await GranarySiloHost.RunAsync(args);
/// </code></example>
public static class GranarySiloHost
{
    /// <summary>The runtime's switch for running socket completions on the thread that polls the sockets.</summary>
    public const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Unless the environment already says (<c>0</c> turns it off), a silo process runs the completions
    /// of its sockets on the thread that polls them instead of queueing each one to the thread pool:
    /// one thread hand-off less per read and write of every connection (clients, other silos, the RESP
    /// and Memcached endpoints, PostgreSQL, Redis). What runs there is short (parsing, queueing a
    /// grain call, completing a flush); nothing blocks on it. The runtime reads the switch when the
    /// first socket is made, so it is set before anything else.
    /// </summary>
    private static void UseInlineSocketCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineSocketCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletionsVariable, "1");
        }
    }

    /// <summary>
    /// Runs the silo until it is stopped; returns 0, or 2 when start-up refused a setting (one line on
    /// stderr, prefixed with <paramref name="processName"/>). <paramref name="configure"/> adds to the
    /// silo after Granary's own set-up.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, string processName = "granary-silo", Action<ISiloBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        UseInlineSocketCompletions();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { Args = args });
        try
        {
            // Refuses a secrets or password file that others can read, as the options refuse a bad value.
            builder.Configuration.AddGranarySources(args);
            builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
            builder.UseOrleans(silo =>
            {
                silo.AddGranary(builder.Configuration);
                configure?.Invoke(silo);
            });
            using var host = builder.Build();
            await host.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"{processName}: invalid configuration: " + string.Join(" ", ex.Failures));
            return 2;
        }
    }
}
