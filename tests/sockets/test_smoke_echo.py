"""End to end: the echo fixture with the blocking client."""

from wsframework import connect


def test_echo_text_and_binary(echo_server):
    connection = connect(echo_server.url + "/echo", max_received_message_size=1 << 25)
    connection.send("hello")
    assert connection.receive().data == "hello"
    connection.send(b"\x00\xff")
    message = connection.receive()
    assert message.type == "binary" and message.binary_data == b"\x00\xff"
    connection.close()
    assert connection.wait_closed(5)
    assert connection.close_reason_code == 1000
