using System.Runtime.Versioning;
using Granary.Client.Configuration;
using Granary.Server.Options;
using Granary.Server.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// The cluster secret's start-up rules: required with Redis clustering (the message names the
/// setting), derived on Localhost, never both inline and in a file, long enough, and a file only
/// its owner can read; the proof is the same on every silo with the same secret and differs otherwise.
/// </summary>
public sealed class ClusterSecretOptionsTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef";

    [Fact]
    public void Redis_clustering_without_a_secret_fails_start_up_naming_the_setting_and_Localhost_derives_one()
    {
        var redis = new ClusterSecretOptionsValidator(ClusteringMode.Redis).Validate(null, new ClusterSecretOptions());
        Assert.True(redis.Failed);
        Assert.Contains("Granary:Security:ClusterSecret", redis.FailureMessage, StringComparison.Ordinal);
        Assert.True(new ClusterSecretOptionsValidator(ClusteringMode.Localhost).Validate(null, new ClusterSecretOptions()).Succeeded);
        Assert.Throws<InvalidOperationException>(() => new ClusterProof(new ClusterSecretOptions(), ClusteringMode.Redis, "s", "c", NullLogger.Instance));

        var a = new ClusterProof(new ClusterSecretOptions(), ClusteringMode.Localhost, "s", "c1", NullLogger.Instance);
        Assert.True(new ClusterProof(new ClusterSecretOptions(), ClusteringMode.Localhost, "s", "c1", NullLogger.Instance).Verify(a.Value));
        Assert.False(new ClusterProof(new ClusterSecretOptions(), ClusteringMode.Localhost, "s", "c2", NullLogger.Instance).Verify(a.Value));
    }

    [Fact]
    public void A_short_secret_or_both_settings_are_refused_and_the_proof_hides_the_secret()
    {
        var validator = new ClusterSecretOptionsValidator(ClusteringMode.Redis);
        Assert.True(validator.Validate(null, new ClusterSecretOptions { ClusterSecret = "short" }).Failed);
        Assert.True(validator.Validate(null, new ClusterSecretOptions { ClusterSecret = Secret, ClusterSecretFile = "/nonexistent" }).Failed);
        Assert.True(validator.Validate(null, new ClusterSecretOptions { ClusterSecret = Secret }).Succeeded);

        var proof = new ClusterProof(new ClusterSecretOptions { ClusterSecret = Secret }, ClusteringMode.Redis, "s", "c", NullLogger.Instance);
        Assert.DoesNotContain(Secret, proof.Value, StringComparison.Ordinal);
        Assert.True(new ClusterProof(new ClusterSecretOptions { ClusterSecret = Secret }, ClusteringMode.Redis, "other", "ids", NullLogger.Instance).Verify(proof.Value));
        Assert.False(new ClusterProof(new ClusterSecretOptions { ClusterSecret = Secret + "x" }, ClusteringMode.Redis, "s", "c", NullLogger.Instance).Verify(proof.Value));
        Assert.False(proof.Verify(null));
        Assert.False(proof.Verify(proof.Value[..^1]));
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void A_secret_file_must_be_private_to_its_owner()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Secret + "\n");
            var validator = new ClusterSecretOptionsValidator(ClusteringMode.Redis);
            var options = new ClusterSecretOptions { ClusterSecretFile = file };

            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var open = validator.Validate(null, options);
            Assert.True(open.Failed);
            Assert.Contains("chmod 600", open.FailureMessage, StringComparison.Ordinal);

            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.True(validator.Validate(null, options).Succeeded);
            var fromFile = new ClusterProof(options, ClusteringMode.Redis, "s", "c", NullLogger.Instance);
            Assert.True(new ClusterProof(new ClusterSecretOptions { ClusterSecret = Secret }, ClusteringMode.Redis, "s", "c", NullLogger.Instance).Verify(fromFile.Value));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
