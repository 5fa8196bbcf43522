using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ReverseSD.Serving;

namespace ReverseSD.MLNet.Tests.Serving;

[Collection(ServeCollection.Name)]
[Trait("Category", "Slow")]
public sealed class ServeApiTests(ServeFixture fixture)
{
    private static MultipartFormDataContent Form(params (string Field, string Name, byte[] Bytes)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (field, name, bytes) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(part, field, name);
        }
        return form;
    }

    private static ByteArrayContent Raw(byte[] bytes, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return content;
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static async Task AssertProblem(HttpResponseMessage response, HttpStatusCode status, string type, string mentions)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal(type, json.GetProperty("type").GetString());
        Assert.Contains(mentions, json.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HealthzSaysReadyAndDescribesTheLoadedModel()
    {
        using var client = fixture.Factory.CreateClient();
        var json = await Json(await client.GetAsync("/healthz"));
        Assert.Equal("ready", json.GetProperty("status").GetString());
        var model = json.GetProperty("model");
        Assert.Equal("reversesd-model/1", model.GetProperty("format").GetString());
        Assert.Equal("model.zip", model.GetProperty("file").GetString());
        Assert.Equal("ImageFeatures: 512-d features of 224×224 images", Assert.Single(model.GetProperty("backbones").EnumerateArray()).GetString());
        var trained = model.GetProperty("trained_at").GetDateTimeOffset();
        Assert.InRange(trained, DateTimeOffset.UtcNow.AddHours(-2), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task PredictReturnsTheSameEmbeddingAndWordsAsReversesdPredictForTheSameFile()
    {
        string image = fixture.Images[0];
        var cli = CliRunner.Run("predict", "--model", fixture.Tiny.Model, image);
        Assert.True(cli.ExitCode == 0, cli.Output);
        var expected = JsonDocument.Parse(cli.Output).RootElement[0];

        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Form(("image", Path.GetFileName(image), File.ReadAllBytes(image))));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await Json(response);
        var embedding = json.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var cliEmbedding = expected.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(384, embedding.Length);
        Assert.Equal(cliEmbedding.Length, embedding.Length);
        for (int i = 0; i < embedding.Length; i++) Assert.True(Math.Abs(embedding[i] - cliEmbedding[i]) <= 1e-6, $"embedding[{i}]: {embedding[i]} vs {cliEmbedding[i]}");
        var words = json.GetProperty("words").EnumerateArray().Select(w => w.GetProperty("word").GetString()).ToList();
        var cliWords = expected.GetProperty("words").EnumerateArray().Select(w => w.GetProperty("word").GetString()).ToList();
        Assert.Equal(10, words.Count);
        Assert.Equal(cliWords, words);
        Assert.Equal(Path.GetFileName(image), json.GetProperty("image").GetString());
        foreach (string field in new[] { "prompt", "prompt_score", "nearest_prompts", "model", "elapsed_ms" })
            Assert.True(json.TryGetProperty(field, out _), $"no '{field}' in {json}");
        Assert.True(json.GetProperty("elapsed_ms").GetDouble() > 0);
    }

    [Fact]
    public async Task ARawPngBodyGetsTheSameAnswerAsTheMultipartForm()
    {
        byte[] bytes = File.ReadAllBytes(fixture.Images[1]);
        using var client = fixture.Factory.CreateClient();
        var form = await Json(await client.PostAsync("/v1/predict", Form(("image", "a.png", bytes))));
        var raw = await Json(await client.PostAsync("/v1/predict", Raw(bytes, "image/png")));
        Assert.Equal(form.GetProperty("embedding").ToString(), raw.GetProperty("embedding").ToString());
        Assert.Equal(form.GetProperty("words").ToString(), raw.GetProperty("words").ToString());
    }

    [Fact]
    public async Task BatchAnswersInUploadOrderAndSkipsAnUnusableImageInItsPlace()
    {
        byte[] a = File.ReadAllBytes(fixture.Images[2]), b = File.ReadAllBytes(fixture.Images[3]);
        using var client = fixture.Factory.CreateClient();
        var single = await Json(await client.PostAsync("/v1/predict", Raw(b, "image/png")));
        using var response = await client.PostAsync("/v1/predict/batch",
            Form(("images", "first.png", a), ("images", "broken.png", a[..(a.Length / 2)]), ("images", "third.png", b)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await Json(response);
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["first.png", "broken.png", "third.png"], results.Select(r => r.GetProperty("image").GetString()));
        Assert.Equal([0, 1, 2], results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Contains("truncated", results[1].GetProperty("error").GetString());
        Assert.False(results[1].TryGetProperty("prediction", out _));
        Assert.Equal(2, json.GetProperty("scored").GetInt32());
        Assert.Equal(1, json.GetProperty("skipped").GetInt32());
        Assert.Equal(single.GetProperty("embedding").ToString(), results[2].GetProperty("prediction").GetProperty("embedding").ToString());
    }

    [Fact]
    public async Task NotAnImageGets400SayingSo()
    {
        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Form(("image", "notes.png", "hello, not a picture"u8.ToArray())));
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.NotAnImage, "not a PNG");
    }

    [Fact]
    public async Task ATruncatedImageGets400SayingItIsTruncated()
    {
        byte[] bytes = File.ReadAllBytes(fixture.Images[0]);
        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Raw(bytes[..(bytes.Length - 40)], "image/png"));
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.CorruptImage, "truncated");
    }

    [Fact]
    public async Task AnEmptyBodyGets400SayingItIsEmpty()
    {
        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Raw([], "image/png"));
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.EmptyImage, "empty");
    }

    [Fact]
    public async Task AWrongContentTypeGets400NamingWhatToSend()
    {
        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Raw("hello"u8.ToArray(), "text/plain"));
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.WrongContentType, "multipart/form-data");
        using var noFile = await client.PostAsync("/v1/predict", new FormUrlEncodedContent([new("image", "x")]));
        await AssertProblem(noFile, HttpStatusCode.BadRequest, Problems.WrongContentType, "multipart/form-data");
    }

    [Fact]
    public async Task AFormWithoutTheImageFieldGets400()
    {
        using var client = fixture.Factory.CreateClient();
        using var response = await client.PostAsync("/v1/predict", Form(("picture", "a.png", File.ReadAllBytes(fixture.Images[0]))));
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.NoImage, "'image'");
    }

    [Fact]
    public async Task AnUploadOverTwentyMegabytesGets413()
    {
        Assert.Equal(20L * 1024 * 1024, fixture.Options.MaxUploadBytes);
        var big = new byte[20 * 1024 * 1024 + 1];
        File.ReadAllBytes(fixture.Images[0]).CopyTo(big, 0);
        using var client = fixture.Factory.CreateClient();
        using var raw = await client.PostAsync("/v1/predict", Raw(big, "image/png"));
        await AssertProblem(raw, HttpStatusCode.RequestEntityTooLarge, Problems.UploadTooLarge, "20,971,520 bytes");
        using var form = await client.PostAsync("/v1/predict", Form(("image", "big.png", big)));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, form.StatusCode);
    }

    [Fact]
    public async Task ADecompressionBombIsRefusedFromItsHeaderWithoutDecoding()
    {
        byte[] bomb = ServeFixture.BombPng();
        Assert.InRange(bomb.Length, 1, 2 * 1024 * 1024);
        using var client = fixture.Factory.CreateClient();
        long before = ResidentBytes();
        using var response = await client.PostAsync("/v1/predict", Form(("image", "bomb.png", bomb)));
        long grown = ResidentBytes() - before;
        await AssertProblem(response, HttpStatusCode.BadRequest, Problems.TooManyPixels, "20000 × 20000");
        // Decoding would take 20000 × 20000 × 4 bytes = 1.6 GB; refusing from the header keeps memory flat.
        Assert.True(grown < 200L * 1024 * 1024, $"resident memory grew by {grown / (1024 * 1024)} MiB while refusing the bomb");
    }

    [Fact]
    public async Task OpenApiDocumentDescribesTheEndpoints()
    {
        using var client = fixture.Factory.CreateClient();
        var json = await Json(await client.GetAsync("/openapi/v1.json"));
        var paths = json.GetProperty("paths");
        foreach (string path in new[] { "/v1/predict", "/v1/predict/batch", "/healthz" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} missing from the OpenAPI document");
        var content = paths.GetProperty("/v1/predict").GetProperty("post").GetProperty("requestBody").GetProperty("content");
        Assert.True(content.TryGetProperty("multipart/form-data", out _));
        Assert.True(content.TryGetProperty("image/png", out _));
    }

    [Fact]
    public async Task ThePageIsOneSelfContainedHtmlFile()
    {
        using var client = fixture.Factory.CreateClient();
        using var response = await client.GetAsync("/");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        string html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<input id=\"file\" type=\"file\"", html);
        Assert.DoesNotMatch(@"(src|href)\s*=\s*[""']?(https?:)?//", html);
        Assert.DoesNotContain("@import", html);
        Assert.Contains("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task ConcurrentRequestsGetTheSameAnswersAsOneAtATime()
    {
        var images = fixture.Images.Take(4).Select(File.ReadAllBytes).ToList();
        using var client = fixture.Factory.CreateClient();
        var sequential = new List<string>();
        foreach (var bytes in images)
            sequential.Add((await Json(await client.PostAsync("/v1/predict", Raw(bytes, "image/png")))).GetProperty("embedding").ToString());
        var parallel = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            using var response = await client.PostAsync("/v1/predict", Raw(images[i % 4], "image/png"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (i, (await Json(response)).GetProperty("embedding").ToString());
        }));
        foreach (var (i, embedding) in parallel) Assert.Equal(sequential[i % 4], embedding);
    }

    [Fact]
    public async Task BeyondTheQueueARequestGets503WithRetryAfter()
    {
        var options = new ServeOptions { ModelPath = fixture.Tiny.Model, MaxConcurrency = 1, MaxQueue = 0 };
        using var factory = new ServeFactory(options, fixture.Scoring);
        using var client = factory.CreateClient();
        byte[] image = File.ReadAllBytes(fixture.Images[0]);
        // One long batch holds the only scorer; a request sent meanwhile finds no place in a zero-length queue.
        var files = Enumerable.Range(0, 48).Select(i => ("images", $"{i}.png", image)).ToArray();
        var batch = client.PostAsync("/v1/predict/batch", Form(files));
        HttpResponseMessage? rejected = null;
        while (!batch.IsCompleted && rejected == null)
        {
            await Task.Delay(50);
            var response = await client.PostAsync("/v1/predict", Raw(image, "image/png"));
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable) rejected = response;
            else response.Dispose();
        }
        Assert.Equal(HttpStatusCode.OK, (await batch).StatusCode);
        Assert.True(rejected != null, "no request was rejected while the batch held the only scorer");
        Assert.Equal("1", rejected.Headers.GetValues("Retry-After").Single());
        await AssertProblem(rejected, HttpStatusCode.ServiceUnavailable, Problems.Busy, "busy");
        rejected.Dispose();
    }

    private static long ResidentBytes() => ServeLoadTest.ResidentBytes();
}
