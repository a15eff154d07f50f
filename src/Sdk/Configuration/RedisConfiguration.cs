using StackExchange.Redis;

namespace Granary.Client.Configuration;

/// <summary>StackExchange.Redis settings for the cluster's Redis (membership on silos, gateway discovery on clients).</summary>
public static class RedisConfiguration
{
    /// <summary>Parses a StackExchange.Redis configuration string with settings suited to membership.</summary>
    public static ConfigurationOptions Parse(string connectionString) => Parse(connectionString, caCertificate: null);

    /// <summary>
    /// The same, trusting the certificate authority in the PEM file <paramref name="caCertificate"/>
    /// (when not null) for the server's TLS certificate (<c>ssl=true</c> in the string).
    /// </summary>
    public static ConfigurationOptions Parse(string connectionString, string? caCertificate)
    {
        var redis = ConfigurationOptions.Parse(connectionString);
        redis.AbortOnConnectFail = false;
        if (caCertificate is not null)
        {
            redis.TrustIssuer(caCertificate);
        }

        return redis;
    }
}
