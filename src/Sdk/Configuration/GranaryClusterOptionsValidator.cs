using Microsoft.Extensions.Options;

namespace Granary.Client.Configuration;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Cluster</c>.</summary>
public sealed class GranaryClusterOptionsValidator : IValidateOptions<GranaryClusterOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GranaryClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:Mode must be Localhost or Redis.");
        }

        if (options.Mode == ClusteringMode.Redis && string.IsNullOrWhiteSpace(options.RedisConnectionString))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:RedisConnectionString is required when Mode is Redis.");
        }

        CheckPort(errors, nameof(options.SiloPort), options.SiloPort, allowZero: false);
        CheckPort(errors, nameof(options.GatewayPort), options.GatewayPort, allowZero: true);
        CheckPort(errors, nameof(options.PrimarySiloPort), options.PrimarySiloPort, allowZero: false);
        foreach (var port in options.ClientGatewayPorts)
        {
            CheckPort(errors, nameof(options.ClientGatewayPorts), port, allowZero: false);
        }

        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}: SiloPort and GatewayPort must differ (both are {options.SiloPort}).");
        }

        if (!System.Net.IPAddress.TryParse(options.AdvertisedAddress, out _))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:AdvertisedAddress '{options.AdvertisedAddress}' is not an IP address.");
        }

        if (options.ProbeTimeout is { } probe && probe <= TimeSpan.Zero)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:ProbeTimeout must be positive.");
        }

        if (options.NumMissedProbesLimit is < 1 || options.NumVotesForDeathDeclaration is < 1)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}: NumMissedProbesLimit and NumVotesForDeathDeclaration must be at least 1.");
        }

        if (options.CollectionAge is { } age && (age < TimeSpan.FromSeconds(1) || age > TimeSpan.FromDays(1)))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:CollectionAge must be between 00:00:01 and 1.00:00:00 (got {age}).");
        }

        if (options.DirectoryCacheSize is < 1_000 or > 10_000_000)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:DirectoryCacheSize must be between 1000 and 10000000 (got {options.DirectoryCacheSize}).");
        }

        if (options.MinimumReminderPeriod is { } reminder && (reminder < TimeSpan.FromSeconds(1) || reminder > TimeSpan.FromHours(1)))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:MinimumReminderPeriod must be between 00:00:01 and 01:00:00 (got {reminder}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPort(List<string> errors, string field, int port, bool allowZero)
    {
        if (port < (allowZero ? 0 : 1) || port > 65535)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:{field} {port} is not a valid port.");
        }
    }
}
