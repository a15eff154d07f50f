using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Granary.Client.Configuration;

/// <summary>
/// The one way a configuration section becomes options: bound, validated at once (wiring decisions
/// depend on the values, and a bad value stops start-up with the validator's message) and registered
/// with its validator and <c>ValidateOnStart</c>.
/// </summary>
internal static class ValidatedOptions
{
    /// <summary>Binds <paramref name="section"/>, validates it now, and registers the options with their validator.</summary>
    /// <exception cref="OptionsValidationException">The section does not bind or fails validation.</exception>
    public static TOptions Bind<TOptions, TValidator>(IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class, new()
        where TValidator : class, IValidateOptions<TOptions>, new()
    {
        var options = Read<TOptions, TValidator>(configuration, section);
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
        return options;
    }

    /// <summary>Binds and validates a section for wiring decisions, without registering the options (the method that owns them does).</summary>
    public static TOptions Read<TOptions, TValidator>(IConfiguration configuration, string section)
        where TOptions : class, new()
        where TValidator : class, IValidateOptions<TOptions>, new()
    {
        var options = new TOptions();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            // e.g. "Failed to convert configuration value 'Bogus' at 'Granary:Cluster:Mode'": say which values are allowed.
            throw new OptionsValidationException(section, typeof(TOptions), [ex.Message + " " + ex.InnerException?.Message]);
        }

        // Validate now as well: wiring below depends on these values, and a bad value must stop
        // start-up with the validator's message rather than fail later somewhere deep.
        var result = new TValidator().Validate(Microsoft.Extensions.Options.Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(section, typeof(TOptions), result.Failures);
        }

        return options;
    }
}
