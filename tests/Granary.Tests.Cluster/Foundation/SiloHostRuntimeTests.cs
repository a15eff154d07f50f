using Granary.Server;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>The silo process's runtime settings: socket completions inline unless the deployment chose.</summary>
public sealed class SiloHostRuntimeTests
{
    private const string Variable = GranarySiloHost.InlineSocketCompletionsVariable;

    [Theory]
    [InlineData(null, "1")] // not named by the environment: turned on
    [InlineData("0", "0")] // named by the deployment: its value kept
    public void Inline_socket_completions_are_on_unless_the_environment_names_the_variable(string? given, string expected)
    {
        var saved = Environment.GetEnvironmentVariable(Variable);
        try
        {
            Environment.SetEnvironmentVariable(Variable, given);

            GranarySiloHost.PreferInlineSocketCompletions();

            Assert.Equal(expected, Environment.GetEnvironmentVariable(Variable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, saved);
        }
    }
}
