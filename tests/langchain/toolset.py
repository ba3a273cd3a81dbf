"""Twenty agent tools, example requests to train on, and a held-out labelled set to measure on."""

from __future__ import annotations

from langchain_core.tools import BaseTool, tool


@tool
def get_weather(city: str) -> str:
    """Current weather, temperature and forecast for a city."""
    return f"sunny in {city}"


@tool
def convert_currency(amount: float, source: str, target: str) -> str:
    """Convert an amount of money between currencies using exchange rates."""
    return f"{amount} {source} in {target}"


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email message to a recipient address."""
    return f"sent to {to}"


@tool
def search_web(query: str) -> str:
    """Search the internet for pages, news and articles about a query."""
    return f"results for {query}"


@tool
def create_calendar_event(title: str, date: str) -> str:
    """Schedule a meeting or appointment in the calendar on a date."""
    return f"scheduled {title}"


@tool
def translate_text(text: str, language: str) -> str:
    """Translate text into another language such as French, Spanish or German."""
    return f"{text} in {language}"


@tool
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression: add, multiply, divide, percentages."""
    return expression


@tool
def get_stock_price(ticker: str) -> str:
    """Latest share price of a company on the stock market."""
    return f"{ticker}: 100"


@tool
def book_flight(origin: str, destination: str, date: str) -> str:
    """Book an airline flight ticket between two airports."""
    return f"{origin} to {destination}"


@tool
def find_restaurant(cuisine: str, city: str) -> str:
    """Find restaurants to eat at, by cuisine and city, and reserve a table."""
    return f"{cuisine} in {city}"


@tool
def set_reminder(text: str, time: str) -> str:
    """Remind me of something at a given time with an alarm."""
    return f"reminder {text}"


@tool
def play_music(song: str) -> str:
    """Play a song, album or playlist by an artist."""
    return f"playing {song}"


@tool
def get_directions(origin: str, destination: str) -> str:
    """Driving or walking route and directions between two places on a map."""
    return f"{origin} -> {destination}"


@tool
def read_file(path: str) -> str:
    """Open and read the contents of a file on disk."""
    return path


@tool
def run_sql(query: str) -> str:
    """Run a SQL query against the database tables."""
    return query


@tool
def create_ticket(title: str, description: str) -> str:
    """Open a bug report or support ticket in the issue tracker."""
    return title


@tool
def lookup_definition(word: str) -> str:
    """Dictionary definition and meaning of an English word."""
    return word


@tool
def summarize_document(text: str) -> str:
    """Summarize a long document, article or report into key points."""
    return text[:10]


@tool
def order_groceries(items: str) -> str:
    """Order groceries and food items for home delivery from the supermarket."""
    return items


@tool
def check_order_status(order_id: str) -> str:
    """Track a shipment and the delivery status of an online order."""
    return order_id


TOOLS: list[BaseTool] = [
    get_weather, convert_currency, send_email, search_web, create_calendar_event,
    translate_text, calculate, get_stock_price, book_flight, find_restaurant, set_reminder,
    play_music, get_directions, read_file, run_sql, create_ticket, lookup_definition,
    summarize_document, order_groceries, check_order_status,
]  # fmt: skip

#: Example requests per tool, for training (disjoint from `LABELLED`).
EXAMPLES: dict[str, list[str]] = {
    "get_weather": ["will it rain in Paris tomorrow", "how hot is it in Cairo today"],
    "convert_currency": ["how many euros is 50 dollars", "convert 200 yen to pounds"],
    "send_email": ["email my boss that I am running late", "write to alice@example.com"],
    "search_web": ["look up the latest news on the election", "google the best laptops"],
    "create_calendar_event": ["set up a meeting with Bob on Friday", "add dentist to my calendar"],
    "translate_text": ["how do you say thank you in Japanese", "put this sentence into Spanish"],
    "calculate": ["what is 17 times 23", "what is 15 percent of 80"],
    "get_stock_price": ["how is Apple stock doing", "what is Tesla trading at"],
    "book_flight": ["get me a plane ticket to Rome", "fly from Boston to Denver next week"],
    "find_restaurant": ["where can I get sushi nearby", "a good Italian place for dinner"],
    "set_reminder": ["remind me to call mom at 6", "wake me up at 7 am"],
    "play_music": ["put on some jazz", "play the new Taylor Swift album"],
    "get_directions": ["how do I get to the train station", "route from home to the airport"],
    "read_file": ["show me what is in config.yaml", "open notes.txt"],
    "run_sql": ["select all users from the accounts table", "count rows in the orders table"],
    "create_ticket": ["file a bug about the login page crashing", "report this issue to support"],
    "lookup_definition": ["what does ephemeral mean", "define the word ubiquitous"],
    "summarize_document": ["give me the gist of this report", "tl;dr of this long article"],
    "order_groceries": ["buy milk and eggs for delivery", "get bread and apples delivered"],
    "check_order_status": ["where is my package", "has my order shipped yet"],
}

#: Held-out labelled requests: (request, the tool it needs).
LABELLED: list[tuple[str, str]] = [
    ("is it going to snow in Denver this weekend", "get_weather"),
    ("what's the temperature outside in London", "get_weather"),
    ("how much is 100 euros in Swiss francs", "convert_currency"),
    ("exchange rate from pounds to dollars", "convert_currency"),
    ("send an email to the team about the launch", "send_email"),
    ("mail the invoice to bob@example.com", "send_email"),
    ("search online for reviews of the new phone", "search_web"),
    ("find articles about climate change on the internet", "search_web"),
    ("schedule a call with the client next Tuesday", "create_calendar_event"),
    ("put a team lunch on my calendar for Monday", "create_calendar_event"),
    ("translate good morning into German", "translate_text"),
    ("what is hello in French", "translate_text"),
    ("divide 144 by 12", "calculate"),
    ("add 345 and 789", "calculate"),
    ("what's the share price of Microsoft", "get_stock_price"),
    ("how did Amazon stock close today", "get_stock_price"),
    ("book me a flight to Tokyo in March", "book_flight"),
    ("I need airline tickets from Chicago to Miami", "book_flight"),
    ("reserve a table at a Thai restaurant tonight", "find_restaurant"),
    ("recommend a place to eat pizza in Naples", "find_restaurant"),
    ("remind me to take my pills at 9 pm", "set_reminder"),
    ("set an alarm for 5:30 tomorrow", "set_reminder"),
    ("play some relaxing piano music", "play_music"),
    ("I want to listen to a Beatles song", "play_music"),
    ("give me walking directions to the museum", "get_directions"),
    ("what's the fastest way to drive to the beach", "get_directions"),
    ("read the contents of report.csv", "read_file"),
    ("open the file main.py and show it", "read_file"),
    ("query the database for orders over 100 dollars", "run_sql"),
    ("write a SQL query to join customers and invoices", "run_sql"),
    ("open a support ticket because checkout is broken", "create_ticket"),
    ("log a bug for the crashing mobile app", "create_ticket"),
    ("what is the meaning of the word serendipity", "lookup_definition"),
    ("define melancholy", "lookup_definition"),
    ("summarize this article in three bullet points", "summarize_document"),
    ("give me the key points of this long document", "summarize_document"),
    ("order some bananas and rice for delivery", "order_groceries"),
    ("add cheese and tomatoes to my grocery order", "order_groceries"),
    ("track my shipment from last week", "check_order_status"),
    ("when will my online order be delivered", "check_order_status"),
]
