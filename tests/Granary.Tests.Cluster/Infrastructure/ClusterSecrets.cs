using System.Security.Cryptography;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>The cluster secret of a test cluster (<c>Granary:Security:ClusterSecret</c>): fresh for each cluster, as an operator would make one.</summary>
public static class ClusterSecrets
{
    /// <summary>32 random bytes in base64.</summary>
    public static string New() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
