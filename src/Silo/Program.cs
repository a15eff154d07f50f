using Granary.Server;
using Granary.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

// A Granary silo: configuration from appsettings.json, .local/cluster.json, GRANARY_CONFIG, GRANARY_SECRETS_FILE,
// environment variables and --Section:Key=value arguments (see README, "Configuration").
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
    builder.UseOrleans(silo => silo.AddGranary(builder.Configuration));
    using var host = builder.Build();
    await host.RunAsync();
    return 0;
}
catch (OptionsValidationException ex)
{
    await Console.Error.WriteLineAsync("granary-silo: invalid configuration: " + string.Join(" ", ex.Failures));
    return 2;
}
