using Granary.Client.Configuration;
using Granary.Server.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Granary.Server.Configuration;

/// <summary>
/// Server credentials from outside the connection strings (<see cref="ServerSecretsOptions"/>) and the
/// secrets file named by <see cref="SecretsFileVariable"/>. Every reader of configuration (the silo,
/// the console, its benchmarks and scenarios) sees the connection strings with the credentials
/// already in them, so there is one place that applies them.
/// </summary>
public static class ServerSecrets
{
    /// <summary>Environment variable naming a JSON configuration file that holds secrets (mode 0600 or stricter).</summary>
    public const string SecretsFileVariable = "GRANARY_SECRETS_FILE";

    private const string ShardsKey = GranaryStorageOptions.SectionName + ":Shards";
    private const string BackingKey = "Granary:Caching:BackingConnectionString";

    /// <summary>Adds the file named by <see cref="SecretsFileVariable"/>, if any, after refusing one that others can read.</summary>
    /// <exception cref="OptionsValidationException">The file is missing or readable by group or others.</exception>
    public static IConfigurationBuilder AddSecretsFile(this IConfigurationBuilder builder) =>
        builder.AddSecretsFile(Environment.GetEnvironmentVariable(SecretsFileVariable));

    /// <summary>Adds the secrets file <paramref name="path"/> (nothing when null or blank), after refusing one that others can read.</summary>
    /// <exception cref="OptionsValidationException">The file is missing or readable by group or others.</exception>
    public static IConfigurationBuilder AddSecretsFile(this IConfigurationBuilder builder, string? path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (string.IsNullOrWhiteSpace(path))
        {
            return builder;
        }

        var error = RedisSecrets.CheckPrivateFile(SecretsFileVariable, path);
        if (error is not null)
        {
            throw new OptionsValidationException(SecretsFileVariable, typeof(ServerSecretsOptions), [error]);
        }

        return builder.AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: false);
    }

    /// <summary>
    /// Adds, as the last source, the connection strings of <paramref name="builder"/>'s configuration
    /// with the credentials of <see cref="ServerSecretsOptions"/> filled in. Adds nothing when no
    /// credential is configured.
    /// </summary>
    /// <exception cref="OptionsValidationException">A credential is given twice, or its file is missing, empty or readable by others.</exception>
    public static IConfigurationBuilder AddServerCredentials(this IConfigurationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // A ConfigurationManager builds to itself; a ConfigurationBuilder to a snapshot of its sources.
        var current = builder.Build();
        try
        {
            var overrides = CredentialOverrides(current);
            return overrides.Count == 0 ? builder : builder.AddInMemoryCollection(overrides);
        }
        finally
        {
            if (!ReferenceEquals(current, builder))
            {
                (current as IDisposable)?.Dispose();
            }
        }
    }

    /// <summary>
    /// The connection-string keys of <paramref name="configuration"/> rewritten with the configured
    /// credentials (only those that change).
    /// </summary>
    /// <exception cref="OptionsValidationException">See <see cref="AddServerCredentials"/>.</exception>
    public static Dictionary<string, string?> CredentialOverrides(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = RedisSecrets.Read(configuration);
        var errors = new List<string>();
        var postgresPassword = RedisSecrets.Resolve(nameof(options.PostgresPassword), options.PostgresPassword, options.PostgresPasswordFile, errors);
        var redisPassword = RedisSecrets.Resolve(nameof(options.RedisPassword), options.RedisPassword, options.RedisPasswordFile, errors);
        if (!string.IsNullOrEmpty(options.RedisCaCertificate) && !File.Exists(options.RedisCaCertificate))
        {
            errors.Add($"{ServerSecretsOptions.SectionName}:RedisCaCertificate names '{options.RedisCaCertificate}', which does not exist.");
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(ServerSecretsOptions.SectionName, typeof(ServerSecretsOptions), errors);
        }

        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var postgresUser = RedisSecrets.NullIfEmpty(options.PostgresUsername);
        if (postgresPassword is not null || postgresUser is not null)
        {
            foreach (var shard in configuration.GetSection(ShardsKey).GetChildren())
            {
                Rewrite(overrides, shard.Path, shard.Value, cs => WithPostgresCredentials(cs, postgresUser, postgresPassword));
            }

            Rewrite(overrides, BackingKey, configuration[BackingKey], cs => WithPostgresCredentials(cs, postgresUser, postgresPassword));
        }

        var redisUser = RedisSecrets.NullIfEmpty(options.RedisUser);
        if (redisPassword is not null || redisUser is not null)
        {
            Rewrite(overrides, RedisSecrets.RedisKey, configuration[RedisSecrets.RedisKey] ?? new GranaryClusterOptions().RedisConnectionString, cs => RedisSecrets.WithRedisCredentials(cs, redisUser, redisPassword));
        }

        return overrides;
    }

    /// <summary>
    /// <paramref name="connectionString"/> with <paramref name="username"/> and <paramref name="password"/>
    /// where it names no user or password of its own (what it names wins).
    /// </summary>
    public static string WithPostgresCredentials(string connectionString, string? username, string? password)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var changed = false;
        if (string.IsNullOrEmpty(builder.Username) && username is not null)
        {
            builder.Username = username;
            changed = true;
        }

        if (string.IsNullOrEmpty(builder.Password) && password is not null)
        {
            builder.Password = password;
            changed = true;
        }

        return changed ? builder.ConnectionString : connectionString;
    }

    private static void Rewrite(Dictionary<string, string?> overrides, string key, string? connectionString, Func<string, string> apply)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return;
        }

        try
        {
            var rewritten = apply(connectionString);
            if (!string.Equals(rewritten, connectionString, StringComparison.Ordinal))
            {
                overrides[key] = rewritten;
            }
        }
        catch (ArgumentException)
        {
            // Not a valid connection string: left as it is for its own validator to report.
        }
    }

}
