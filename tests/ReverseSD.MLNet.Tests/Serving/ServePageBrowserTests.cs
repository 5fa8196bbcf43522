using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using ReverseSD.Serving;
using SkiaSharp;
using Xunit.Abstractions;

namespace ReverseSD.MLNet.Tests.Serving;

/// <summary>The web page in a real browser: Debian's chromium, headless, driven through chromium-driver (nothing downloaded).</summary>
[Collection(ServeCollection.Name)]
[Trait("Category", "Slow")]
public sealed class ServePageBrowserTests(ServeFixture fixture, ITestOutputHelper output)
{
    private const string Browser = "/usr/bin/chromium";
    private const string Driver = "/usr/bin/chromedriver";

    [SkippableFact]
    public async Task UploadingAnImageThroughThePageShowsItsPromptAndWords()
    {
        Skip.IfNot(File.Exists(Browser) && File.Exists(Driver),
            $"no browser: {Browser} and {Driver} are needed (apt-get install -y chromium chromium-driver; .ci/run installs them)");
        using var dir = new TempDirectory();
        string image = dir.File("shapes.png");
        WriteImage(image);

        // The real server (Kestrel) on a free loopback port, as `reversesd serve` runs it.
        var options = new ServeOptions { ModelPath = fixture.Tiny.Model, Urls = "http://127.0.0.1:0", MaxConcurrency = 2 };
        await using var app = ReverseSdServer.Build(options, fixture.Scoring);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        // What the API says for the same file: the page must show exactly this.
        using var http = new HttpClient { BaseAddress = new Uri(address) };
        using var content = new ByteArrayContent(File.ReadAllBytes(image));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using var apiResponse = await http.PostAsync("/v1/predict", content);
        var api = JsonDocument.Parse(await apiResponse.Content.ReadAsStringAsync()).RootElement;
        var apiWords = api.GetProperty("words").EnumerateArray().Select(w => w.GetProperty("word").GetString()!).ToList();
        string? apiPrompt = api.GetProperty("prompt").GetString();

        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var chrome = new ChromeOptions { BinaryLocation = Browser };
        chrome.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=900,1100", "--user-data-dir=" + dir.File("profile"));
        using var driver = new ChromeDriver(service, chrome, TimeSpan.FromSeconds(90));
        try
        {
            driver.Navigate().GoToUrl(address + "/");
            Assert.Contains("What prompt made this image?", driver.FindElement(By.TagName("h1")).Text);
            driver.FindElement(By.Id("file")).SendKeys(image);

            var words = WaitFor(driver, d => d.FindElements(By.CssSelector(".result .words .word")), TimeSpan.FromSeconds(60));
            Assert.Equal(apiWords, words.Select(w => w.Text).ToList());
            var prompt = driver.FindElement(By.CssSelector(".result .prompt"));
            Assert.True(prompt.Displayed);
            if (apiPrompt != null) Assert.Equal(apiPrompt, prompt.Text);
            else Assert.Contains("No prompt", prompt.Text);
            Assert.Equal("shapes.png", driver.FindElement(By.CssSelector(".result .name")).Text);
            Assert.Contains(fixture.Scoring.Model.File, driver.FindElement(By.Id("model")).Text);

            string shot = Path.Combine(AppContext.BaseDirectory, "TestResults", "serve-page.png");
            Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
            driver.GetScreenshot().SaveAsFile(shot);
            output.WriteLine($"screenshot: {shot}");
            Assert.True(new FileInfo(shot).Length > 1000);
        }
        finally
        {
            driver.Quit();
            await app.StopAsync();
        }
    }

    private static IReadOnlyList<IWebElement> WaitFor(IWebDriver driver, Func<IWebDriver, IReadOnlyList<IWebElement>> find, TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = find(driver);
            if (found.Count > 0) return found;
            var error = driver.FindElements(By.CssSelector(".result .error"));
            if (error.Count > 0) Assert.Fail("the page shows an error: " + error[0].Text);
            if (DateTime.UtcNow > end) Assert.Fail($"nothing appeared within {timeout.TotalSeconds} s; page: {driver.FindElement(By.TagName("body")).Text}");
            Thread.Sleep(100);
        }
    }

    private static void WriteImage(string path)
    {
        using var bitmap = new SKBitmap(256, 256);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor(240, 235, 220));
            using var paint = new SKPaint { IsAntialias = true, Color = new SKColor(200, 40, 40) };
            canvas.DrawCircle(90, 120, 50, paint);
            paint.Color = new SKColor(40, 80, 200);
            canvas.DrawRect(150, 60, 70, 110, paint);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}
