using Granary.Client;
using Granary.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Granary.Server.Telemetry;

/// <summary>Registers Granary's metrics on a silo: the grain-call filter, the stats snapshots and, when configured, OpenTelemetry export.</summary>
public static class TelemetrySiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <c>Granary:Telemetry</c>; measures every Granary grain call; sends a
    /// snapshot to the stats grain every <see cref="TelemetryOptions.StatsInterval"/>; exports the
    /// <c>Granary*</c> and <c>Microsoft.Orleans</c> meters over OTLP and/or to the console when asked.
    /// </summary>
    /// <example><code>silo.AddGranaryTelemetry(configuration);</code></example>
    public static ISiloBuilder AddGranaryTelemetry(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryTelemetry)))
        {
            return silo;
        }

        var options = ValidatedOptions.Bind<TelemetryOptions, TelemetryOptionsValidator>(silo.Services, configuration, TelemetryOptions.SectionName);
        silo.Services.AddMetrics();
        silo.AddIncomingGrainCallFilter<GrainCallMetricsFilter>();
        silo.Services.AddSingleton<SiloStatsCollector>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloStatsCollector>());

        var otlp = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? null : new Uri(options.OtlpEndpoint);
        if (otlp is null && !options.ConsoleExporter)
        {
            return silo;
        }

        var intervalMs = (int)options.ExportInterval.TotalMilliseconds;
        silo.Services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(GrainCallMetricsFilter.MeterName, GrainCallMetricsFilter.MeterName + ".*", "Microsoft.Orleans");
            if (otlp is not null)
            {
                metrics.AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Endpoint = otlp;
                    exporter.Protocol = options.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs;
                });
            }

            if (options.ConsoleExporter)
            {
                metrics.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs);
            }
        });
        return silo;
    }
}
