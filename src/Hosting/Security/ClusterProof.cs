using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Granary.Client.Configuration;
using Granary.Server.Options;
using Microsoft.Extensions.Logging;

namespace Granary.Server.Security;

/// <summary>
/// What a silo stamps on its calls to grains to show they come from a silo of this cluster: an
/// HMAC-SHA256 of a fixed label under the cluster secret (<see cref="ClusterSecretOptions"/>), so the
/// secret itself never travels. Only silos hold it; a client cannot produce it. It travels in the
/// call's <see cref="RequestContext"/> under <see cref="RequestContextKey"/> and is removed before
/// grain code runs (<see cref="InternalCallWall"/>).
/// </summary>
public sealed class ClusterProof
{
    /// <summary>The request context key of the proof.</summary>
    public const string RequestContextKey = "granary.cluster-proof";

    private static readonly byte[] Label = "granary silo call proof v1"u8.ToArray();

    /// <summary>Derives the proof of the configured secret, or (Localhost clustering only) of a development secret.</summary>
    /// <param name="options">The configured secret (already validated).</param>
    /// <param name="mode">How the silos cluster: an unset secret is derived only in <see cref="ClusteringMode.Localhost"/>.</param>
    /// <param name="serviceId">Orleans' service id (an input of the development secret).</param>
    /// <param name="clusterId">Orleans' cluster id (an input of the development secret).</param>
    /// <param name="logger">Where the development-secret warning goes.</param>
    public ClusterProof(ClusterSecretOptions options, ClusteringMode mode, string serviceId, string clusterId, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        var secret = ClusterSecretOptionsValidator.Read(options);
        if (secret.Length == 0)
        {
            if (mode != ClusteringMode.Localhost)
            {
                // The options validator refuses this at start-up; never fall back to a guessable secret.
                throw new InvalidOperationException($"{ClusterSecretOptions.SectionName}:ClusterSecret is required when {GranaryClusterOptions.SectionName}:Mode is {mode}.");
            }

            // Silos on one machine must agree without configuration: derive it from the ids they share.
            secret = $"granary development cluster/{serviceId}/{clusterId}";
            SecurityLog.DevelopmentClusterSecret(logger, ClusterSecretOptions.SectionName);
        }

        Value = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Label));
    }

    /// <summary>The proof (base64).</summary>
    public string Value { get; }

    /// <summary>True when <paramref name="presented"/> is this cluster's proof (compared in constant time).</summary>
    public bool Verify(object? presented) =>
        presented is string text
        && text.Length == Value.Length
        && CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(text.AsSpan()), MemoryMarshal.AsBytes(Value.AsSpan()));
}
