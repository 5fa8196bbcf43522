using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ReverseSD.MLNet.Composer;
using ReverseSD.Serving;

namespace ReverseSD.MLNet.Tests.Serving;

[Collection(ServeCollection.Name)]
[Trait("Category", "Slow")]
public sealed class ServeBankTests(ServeFixture fixture)
{
    [Fact]
    public async Task WithABankTheApiAnswersThePromptAndNearestPromptsOfReversesdPredict()
    {
        string bank = fixture.Tiny.Directory.File("serve.rsdbank");
        if (!File.Exists(bank))
        {
            var built = CliRunner.Run("bank", "build", "--input", Path.Combine(fixture.Tiny.Data, "train", "metadata.csv"), "--out", bank);
            Assert.True(built.ExitCode == 0, built.Output);
        }
        string image = fixture.Images[0];
        var cli = CliRunner.Run("predict", "--model", fixture.Tiny.Model, image, "--bank", bank, "--compose", "none", "--format", "jsonl");
        Assert.True(cli.ExitCode == 0, cli.Output);
        var expected = JsonDocument.Parse(cli.Output.Split('\n').Single(l => l.TrimStart().StartsWith('{'))).RootElement;

        var options = new ServeOptions { ModelPath = fixture.Tiny.Model, BankPath = bank, Composition = CompositionMethod.None, MaxConcurrency = 2 };
        using var scoring = new PromptScoringService(options);
        using var factory = new ServeFactory(options, scoring);
        using var client = factory.CreateClient();
        using var content = new ByteArrayContent(File.ReadAllBytes(image));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using var response = await client.PostAsync("/v1/predict", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        string? prompt = json.GetProperty("prompt").GetString();
        Assert.False(string.IsNullOrEmpty(prompt));
        Assert.Equal(expected.GetProperty("prompt").GetString(), prompt);
        Assert.Equal(expected.GetProperty("prompt_score").GetDouble(), json.GetProperty("prompt_score").GetDouble(), 6);
        var nearest = json.GetProperty("nearest_prompts").EnumerateArray().ToList();
        var cliNearest = expected.GetProperty("nearest_prompts").EnumerateArray().ToList();
        Assert.NotEmpty(nearest);
        Assert.Equal(cliNearest.Select(n => n.GetProperty("prompt").GetString()), nearest.Select(n => n.GetProperty("prompt").GetString()));
        for (int i = 0; i < nearest.Count; i++)
            Assert.Equal(cliNearest[i].GetProperty("score").GetDouble(), nearest[i].GetProperty("score").GetDouble(), 6);
    }
}
