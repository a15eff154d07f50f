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
    /// <summary>
    /// Runs the silo until it is stopped; returns 0, or 2 when start-up refused a setting (one line on
    /// stderr, prefixed with <paramref name="processName"/>). <paramref name="configure"/> adds to the
    /// silo after Granary's own set-up.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, string processName = "granary-silo", Action<ISiloBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        PreferInlineSocketCompletions();
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

    /// <summary>
    /// The runtime's switch that runs a socket's completions on the thread that polls the sockets
    /// instead of queueing each to the thread pool; read once, when the process first uses a socket.
    /// </summary>
    public const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Turns on <see cref="InlineSocketCompletionsVariable"/> for this process unless the deployment set
    /// it (any value; <c>0</c> keeps the runtime's default). What runs on the polling thread then is
    /// short: Orleans hands each receive on to its own I/O queues, the RESP and Memcached connections
    /// parse, run commands on volatile cache shards of this silo (each bounded by the cache's limits) or
    /// hand them to grains, and grain code resumes on its activation's scheduler. Code
    /// that blocked in a socket continuation would stall the other sockets that thread serves, so none may.
    /// Each completion costs one thread hand-off less; a contended lock's chain of grants, one message
    /// in and one out per hand-off, gains the most (measured in docs/benchmarks.md, "Socket
    /// completions inline"). Must run before the process's first socket.
    /// </summary>
    public static void PreferInlineSocketCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineSocketCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletionsVariable, "1");
        }
    }
}
