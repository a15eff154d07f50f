using Microsoft.Extensions.Options;

namespace Granary.Server.Telemetry;

/// <summary><c>Granary:Telemetry</c>: what a silo measures and where it sends it.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Granary:Telemetry";

    /// <summary>
    /// How often the silo sends its metrics snapshot to the cluster's stats grain (what
    /// <c>granary stats</c> reads); zero turns the snapshots off. Default 2 s.
    /// </summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// OTLP endpoint (for example <c>http://127.0.0.1:4317</c>) to export Granary's and Orleans'
    /// metrics to with OpenTelemetry; empty (the default) exports nothing.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>OTLP transport: <c>grpc</c> (default) or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>Also print the metrics to the console with OpenTelemetry's console exporter (for debugging).</summary>
    public bool ConsoleExporter { get; set; }

    /// <summary>How often OpenTelemetry exports (when an exporter is on). Default 10 s.</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Telemetry</c>.</summary>
public sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var section = TelemetryOptions.SectionName;
        if (options.StatsInterval < TimeSpan.Zero || (options.StatsInterval > TimeSpan.Zero && options.StatsInterval < TimeSpan.FromMilliseconds(100)) || options.StatsInterval > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{section}:StatsInterval must be 0 (off) or between 100 ms and 5 minutes (got {options.StatsInterval}).");
        }

        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint) &&
            (!Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{section}:OtlpEndpoint must be an absolute http:// or https:// URI (got '{options.OtlpEndpoint}').");
        }

        if (options.OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            errors.Add($"{section}:OtlpProtocol must be 'grpc' or 'http/protobuf' (got '{options.OtlpProtocol}').");
        }

        if (options.ExportInterval < TimeSpan.FromSeconds(1) || options.ExportInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{section}:ExportInterval must be between 1 s and 1 hour (got {options.ExportInterval}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
