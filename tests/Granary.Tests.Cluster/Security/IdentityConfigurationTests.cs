using Granary.Client.Security;
using Granary.Security;
using Granary.Server.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Cluster.Security;

/// <summary>Identities without a cluster: permission names, the start-up validator, token lookup, the refusal log throttle.</summary>
public sealed class IdentityConfigurationTests
{
    private const string Hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    [Fact]
    public void Permission_names_are_family_and_verb_and_wildcards_grant_their_family()
    {
        Assert.Equal("cache:read", PermissionNames.NameOf(Permission.CacheRead));
        Assert.Equal("transaction:use", PermissionNames.NameOf(Permission.TransactionUse));
        Assert.Equal("queue:produce", PermissionNames.NameOf(Permission.QueueProduce));
        Assert.True(PermissionNames.TryParse("Queue:Produce", out var produce));
        Assert.Equal(PermissionNames.Bit(Permission.QueueProduce), produce);
        Assert.True(PermissionNames.TryParse("queue:*", out var queues));
        Assert.Equal(PermissionNames.Bit(Permission.QueueProduce) | PermissionNames.Bit(Permission.QueueConsume) | PermissionNames.Bit(Permission.QueueAdmin), queues);
        Assert.True(PermissionNames.TryParse("*", out var all));
        Assert.Equal(PermissionNames.All, all);
        Assert.False(PermissionNames.Holds(all, Permission.Internal));
        Assert.All(PermissionNames.Grantable, p => Assert.True(PermissionNames.Holds(all, p)));
        Assert.All(PermissionNames.Grantable, p => Assert.InRange((int)p, 1, 63));
        Assert.False(PermissionNames.TryParse("cache:delete", out _));
        Assert.False(PermissionNames.TryParse("internal", out _));
        Assert.False(PermissionNames.TryParse("nosuch:*", out _));
        Assert.True(PermissionNames.IsAdmin(Permission.QueueAdmin));
        Assert.False(PermissionNames.IsAdmin(Permission.QueueConsume));
    }

    [Fact]
    public void Identities_bind_from_configuration_and_a_valid_set_passes()
    {
        var options = Bind(new()
        {
            ["Granary:Security:Authorization:Enabled"] = "true",
            ["Granary:Security:Identities:0:Name"] = "shop",
            ["Granary:Security:Identities:0:Permissions:0"] = "cache:read",
            ["Granary:Security:Identities:0:Permissions:1"] = "queue:*",
            ["Granary:Security:Identities:0:TokenSha256"] = Hash,
        });

        Assert.True(options.IsEnforced);
        Assert.Equal(["cache:read", "queue:*"], options.Identities[0].Permissions);
        Assert.True(new IdentityOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData("Permissions:0", "cache:delete", "not a permission")]
    [InlineData("TokenSha256", "secret-token-itself", "64 hex digits")]
    [InlineData("TokenFile", "/nonexistent/granary.token", "TokenFile")]
    [InlineData("Name", "has space", "Name must be")]
    public void A_bad_identity_fails_start_up_with_a_clear_message(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Granary:Security:Identities:0:Name"] = "shop",
            ["Granary:Security:Identities:0:Permissions:0"] = "cache:read",
            ["Granary:Security:Identities:0:TokenSha256"] = Hash,
        };
        settings["Granary:Security:Identities:0:" + key] = value;
        if (key == "TokenFile")
        {
            settings["Granary:Security:Identities:0:TokenSha256"] = null;
        }

        var result = new IdentityOptionsValidator().Validate(null, Bind(settings));

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicates_missing_credentials_and_the_guard_are_refused()
    {
        var result = new IdentityOptionsValidator().Validate(null, Bind(new()
        {
            ["Granary:Security:Authorization:Enabled"] = "false",
            ["Granary:Security:Identities:0:Name"] = "a",
            ["Granary:Security:Identities:0:Permissions:0"] = "*",
            ["Granary:Security:Identities:0:TokenSha256"] = Hash,
            ["Granary:Security:Identities:1:Name"] = "A",
            ["Granary:Security:Identities:1:TokenSha256"] = Hash.ToUpperInvariant(),
            ["Granary:Security:Identities:2:Name"] = "c",
            ["Granary:Security:Identities:2:Permissions:0"] = "*",
        }));
        var guard = new IdentityOptionsValidator().Validate(null, Bind(new() { ["Granary:Security:Authorization:Enabled"] = "true" }));

        Assert.Contains("configured twice", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("same token", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Permissions is empty", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("needs a credential", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Enabled is false", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Identities is empty", guard.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_finds_its_identity_by_hash_and_a_wrong_one_finds_none()
    {
        var file = Path.GetTempFileName();
        try
        {
            var fileToken = new string('f', 40);
            File.WriteAllText(file, fileToken + "\n");
            var table = new IdentityTable(Bind(new()
            {
                ["Granary:Security:Identities:0:Name"] = "hashed",
                ["Granary:Security:Identities:0:Permissions:0"] = "lock:use",
                ["Granary:Security:Identities:0:TokenSha256"] = IdentityTable.HashHex("the-hashed-token"),
                ["Granary:Security:Identities:1:Name"] = "filed",
                ["Granary:Security:Identities:1:Permissions:0"] = "task:*",
                ["Granary:Security:Identities:1:TokenFile"] = file,
            }));

            Assert.Equal("hashed", table.FindByToken("the-hashed-token")?.Name);
            Assert.Equal("hashed", table.FindByToken("the-hashed-token")?.Name);
            Assert.Equal(PermissionNames.Bit(Permission.LockUse), table.FindByToken("the-hashed-token")!.Mask);
            Assert.Equal("filed", table.FindByToken(fileToken)?.Name);
            Assert.Null(table.FindByToken("the-hashed-token "));
            Assert.Null(table.FindByToken(IdentityTable.HashHex("the-hashed-token")));
            Assert.Null(table.FindByToken(""));
            Assert.Null(table.FindByToken(new string('x', ClientCredentials.MaxTokenLength + 1)));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Repeated_refusals_are_logged_once_per_interval_and_the_rest_counted()
    {
        var time = new FakeTimeProvider();
        var throttle = new DeniedCallThrottle(time, TimeSpan.FromMinutes(1));

        Assert.True(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "no credential", out var first));
        Assert.False(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "no credential", out _));
        Assert.False(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "no credential", out _));
        Assert.True(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "unknown token", out _));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "no credential", out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(throttle.ShouldLog("anonymous", "ILockGrain.GetStatusAsync", "no credential", out var later));

        Assert.Equal(0, first);
        Assert.Equal(3, later);
    }

    [Fact]
    public void A_client_token_file_is_read_and_a_short_one_refused()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "short\n");
            var result = new ClientCredentialOptionsValidator().Validate(null, new ClientCredentialOptions { TokenFile = file });
            var both = new ClientCredentialOptionsValidator().Validate(null, new ClientCredentialOptions { TokenFile = file, Token = "t" });
            File.WriteAllText(file, "  " + new string('a', 64) + "  \nignored\n");

            Assert.Contains("32 to 512 characters", result.FailureMessage, StringComparison.Ordinal);
            Assert.Contains("not both", both.FailureMessage, StringComparison.Ordinal);
            Assert.Equal(new string('a', 64), new ClientCredentialOptions { TokenFile = file }.ResolveToken());
            Assert.Null(new ClientCredentialOptions().ResolveToken());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static IdentityOptions Bind(Dictionary<string, string?> settings)
    {
        var options = new IdentityOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(IdentityOptions.SectionName).Bind(options);
        return options;
    }
}
