namespace Granary.Client.Configuration;

/// <summary>
/// Section <c>Granary:Security:Servers</c>: the credentials of the PostgreSQL and Redis servers,
/// kept out of the connection strings (and so out of <c>appsettings.json</c>). When configuration
/// is loaded (the server's <c>GranaryConfiguration.AddGranarySources</c>) they are filled
/// into every connection string that carries none of its own: each
/// <c>Granary:Storage:Shards</c> entry (grain state, queue and cache rows),
/// <c>Granary:Caching:BackingConnectionString</c> and <c>Granary:Cluster:RedisConnectionString</c>
/// (silo membership, reminders and the clients' gateway discovery). Give a password directly
/// (an environment variable such as <c>Granary__Security__Servers__PostgresPassword</c>, or the
/// JSON file named by <c>GRANARY_SECRETS_FILE</c>) or as a file holding nothing else; files must
/// not be readable by group or others.
/// </summary>
public sealed class ServerSecretsOptions
{
    /// <summary>The configuration section bound to this class.</summary>
    public const string SectionName = "Granary:Security:Servers";

    /// <summary>PostgreSQL user for connection strings that name none. Default: none.</summary>
    public string? PostgresUsername { get; set; }

    /// <summary>PostgreSQL password for connection strings that carry none. Default: none.</summary>
    public string? PostgresPassword { get; set; }

    /// <summary>A file holding the PostgreSQL password (one line); exclusive with <see cref="PostgresPassword"/>. Default: none.</summary>
    public string? PostgresPasswordFile { get; set; }

    /// <summary>Redis ACL user for a Redis connection string that names none. Default: none (the default user).</summary>
    public string? RedisUser { get; set; }

    /// <summary>Redis password (<c>requirepass</c> or the ACL user's) for a Redis connection string that carries none. Default: none.</summary>
    public string? RedisPassword { get; set; }

    /// <summary>A file holding the Redis password (one line); exclusive with <see cref="RedisPassword"/>. Default: none.</summary>
    public string? RedisPasswordFile { get; set; }

    /// <summary>
    /// A PEM file with the certificate authority that issued the Redis server's certificate, trusted
    /// instead of the machine's store when the Redis connection string says <c>ssl=true</c>. Default: none.
    /// </summary>
    public string? RedisCaCertificate { get; set; }
}
