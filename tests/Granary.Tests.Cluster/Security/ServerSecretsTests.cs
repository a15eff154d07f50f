using Granary.Client.Configuration;
using Granary.Server;
using Granary.Server.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// Server credentials kept apart from the connection strings (Granary:Security:Servers, the secrets
/// file) reach every connection string, and files that others could read are refused.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ServerSecretsTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("granary-secrets-");

    [Fact]
    public void Passwords_fill_every_shard_the_backing_database_and_the_redis_string_that_name_none()
    {
        var configuration = Configure(new()
        {
            ["Granary:Storage:Shards:0"] = "Host=127.0.0.1;Port=5432;Username=postgres;Database=shard_0",
            ["Granary:Storage:Shards:1"] = "Host=127.0.0.1;Port=5432;Database=shard_1",
            ["Granary:Storage:Shards:2"] = "Host=127.0.0.1;Port=5432;Username=other;Password=own;Database=shard_2",
            ["Granary:Caching:BackingConnectionString"] = "Host=127.0.0.1;Port=5432;Username=postgres;Database=backing",
            ["Granary:Cluster:RedisConnectionString"] = "127.0.0.1:6380,ssl=true",
            ["Granary:Security:Servers:PostgresUsername"] = "granary",
            ["Granary:Security:Servers:PostgresPasswordFile"] = PrivateFile("pg", "pg-secret\n"),
            ["Granary:Security:Servers:RedisUser"] = "silo",
            ["Granary:Security:Servers:RedisPassword"] = "redis-secret",
        });

        var shard0 = new NpgsqlConnectionStringBuilder(configuration["Granary:Storage:Shards:0"]);
        Assert.Equal(("postgres", "pg-secret", "shard_0"), (shard0.Username, shard0.Password, shard0.Database));
        var shard1 = new NpgsqlConnectionStringBuilder(configuration["Granary:Storage:Shards:1"]);
        Assert.Equal(("granary", "pg-secret"), (shard1.Username, shard1.Password));
        var shard2 = new NpgsqlConnectionStringBuilder(configuration["Granary:Storage:Shards:2"]);
        Assert.Equal(("other", "own"), (shard2.Username, shard2.Password));
        Assert.Equal("pg-secret", new NpgsqlConnectionStringBuilder(configuration["Granary:Caching:BackingConnectionString"]).Password);
        var redis = RedisConfiguration.Parse(configuration["Granary:Cluster:RedisConnectionString"]!);
        Assert.Equal(("silo", "redis-secret", true), (redis.User, redis.Password, redis.Ssl));
    }

    [Fact]
    public void A_redis_string_printed_by_a_benchmark_shows_no_password()
    {
        var shown = RedisSecrets.RedisForDisplay("127.0.0.1:6379,password=redis-secret,ssl=true");

        Assert.DoesNotContain("redis-secret", shown, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:6379", shown, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_credentials_nothing_is_rewritten()
    {
        const string Shard = "Host=127.0.0.1;Port=5432;Username=postgres;Database=shard_0";
        var configuration = Configure(new() { ["Granary:Storage:Shards:0"] = Shard, ["Granary:Cluster:RedisConnectionString"] = "127.0.0.1:6379" });

        Assert.Equal(Shard, configuration["Granary:Storage:Shards:0"]);
        Assert.Equal("127.0.0.1:6379", configuration["Granary:Cluster:RedisConnectionString"]);
    }

    [Fact]
    public void A_password_file_that_others_can_read_is_refused_with_its_setting_named()
    {
        var file = PrivateFile("pg", "secret");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var ex = Assert.Throws<OptionsValidationException>(() => Configure(new()
        {
            ["Granary:Storage:Shards:0"] = "Host=127.0.0.1;Database=shard_0",
            ["Granary:Security:Servers:PostgresPasswordFile"] = file,
        }));

        Assert.Contains("Granary:Security:Servers:PostgresPasswordFile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_given_twice_a_missing_file_and_an_empty_file_are_refused()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Configure(new()
        {
            ["Granary:Security:Servers:RedisPassword"] = "a",
            ["Granary:Security:Servers:RedisPasswordFile"] = PrivateFile("redis", "b"),
            ["Granary:Security:Servers:PostgresPasswordFile"] = Path.Combine(_directory.FullName, "missing"),
        }));
        Assert.Contains("RedisPassword and Granary:Security:Servers:RedisPasswordFile are both set", ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);

        var empty = Assert.Throws<OptionsValidationException>(() => Configure(new() { ["Granary:Security:Servers:RedisPasswordFile"] = PrivateFile("empty", "\n") }));
        Assert.Contains("is empty", empty.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_secrets_file_is_read_when_private_and_refused_when_others_can_read_it()
    {
        var secrets = PrivateFile("secrets.json", """{ "Granary": { "Security": { "Servers": { "RedisPassword": "from-file" } } } }""");
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Granary:Cluster:RedisConnectionString"] = "127.0.0.1:6379" })
            .AddSecretsFile(secrets)
            .AddServerCredentials()
            .Build();
        Assert.Equal("from-file", ConfigurationOptions.Parse(configuration["Granary:Cluster:RedisConnectionString"]!).Password);

        File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var ex = Assert.Throws<OptionsValidationException>(() => new ConfigurationBuilder().AddSecretsFile(secrets));
        Assert.Contains(ServerSecrets.SecretsFileVariable, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_repository_appsettings_holds_no_secret()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(Infrastructure.RepositoryPaths.Root, "appsettings.json")).Build();

        Assert.DoesNotContain(configuration.GetSection("Granary:Security:Servers").AsEnumerable(), p => !string.IsNullOrEmpty(p.Value));
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            Assert.False(
                value is not null && (value.Contains("password", StringComparison.OrdinalIgnoreCase) || key.Contains("password", StringComparison.OrdinalIgnoreCase)),
                $"appsettings.json names a password at {key}");
        }
    }

    [Fact]
    public async Task The_silo_refuses_a_secrets_file_that_others_can_read_with_exit_code_2_and_a_message()
    {
        var secrets = PrivateFile("secrets.json", "{}");
        File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var result = await Infrastructure.ChildProcess.RunAsync(
            "dotnet",
            [Infrastructure.RepositoryPaths.SiloAssembly],
            TimeSpan.FromSeconds(60),
            CancellationToken.None,
            workingDirectory: _directory.FullName,
            environment: new Dictionary<string, string> { [ServerSecrets.SecretsFileVariable] = secrets });

        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}: {result.Output}");
        Assert.Contains("granary-silo: invalid configuration: GRANARY_SECRETS_FILE", result.Output, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private static IConfigurationRoot Configure(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).AddServerCredentials().Build();

    private string PrivateFile(string name, string content)
    {
        var path = Path.Combine(_directory.FullName, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }
}
